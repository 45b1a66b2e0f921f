"""What a first streamed LSTM step compiles with an empty kernel cache (issue #21 item 5).

``numrnn demo`` samples through a Streamer (:meth:`numrnn.CharLanguageModel.stepper`),
so its step kernel is part of the demo's cold start: one child interpreter steps an
``nn.LSTM(32, 64, 2)`` on an empty ``NUMBA_CACHE_DIR`` and lists numba's compilations.
"""

import json
import os
import subprocess
import sys

import numrnn

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

CHILD = r"""
import json
import numpy as np
from numba.core import event
from numrnn import nn

recorder = event.RecordingListener()
event.register("numba:compile", recorder)
stream = nn.LSTM(32, 64, 2, rng=0).streamer(batch_size=3)
stream.step(np.ones((3, 32), np.float32))
compiled = []
for _, item in recorder.buffer:
    if item.is_start:
        function = item.data["dispatcher"].py_func
        compiled.append(f"{function.__module__}.{function.__qualname__}")
print(json.dumps(compiled))
"""


def test_a_first_lstm_step_compiles_no_error_messages_and_each_kernel_once(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          env=env, cwd=SOURCE_ROOT, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    # Slice assignments between arrays made numba compile the formatting of a
    # shape-mismatch message (numba's unicode functions), about 10 s of CPU time
    # on a loaded machine; a literal 0 compiled matvec.accumulate a second time.
    assert not [name for name in compiled if name.startswith("numba.cpython.unicode")]
    assert not [name for name in compiled if "raise_with_shape_context" in name]
    assert compiled.count("numrnn.kernels.matvec.accumulate") == 1, compiled
    assert compiled.count("numrnn.kernels.streaming.lstm_step") == 1
