"""What compiling a ``parallel_driver`` generates machine code for (numrnn.kernels.jit).

Each case runs in a child interpreter with an empty ``NUMBA_CACHE_DIR`` of its own,
so that the driver really compiles and the test leaves no cache files behind.
"""

import json
import os
import subprocess
import sys

import numpy as np

import numrnn
from tests.compile_records import RECORD_EMITTED_MODULES

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(numrnn.__file__)))

CHILD = RECORD_EMITTED_MODULES + r"""
import json, sys
import numpy as np
from numba import prange
from numba.core import codegen, event
from numba.core.registry import cpu_target
from numrnn.kernels.jit import linked_kernel, parallel_driver

recorder = event.RecordingListener()
event.register("numba:compile", recorder)


@linked_kernel
def scaled_row(row, values, out):
    for j in range(values.shape[1]):
        out[row, j] = 2.0 * values[row, j] + row


@parallel_driver
def scale(values, out):
    for row in prange(values.shape[0]):
        scaled_row(np.int64(row), values, out)


values = np.arange(12.0).reshape(4, 3)
out = np.zeros_like(values)
scale(values, out)
try:
    scaled_row(np.int64(0), values, out)
    refused = False
except TypeError:
    refused = True
print(json.dumps({"refused": refused, "emitted": emitted, "out": out.tolist(),
                  "compiled": sum(1 for _, item in recorder.buffer if item.is_start),
                  "library_class": cpu_target.target_context.codegen()._library_class.__name__}))
"""


def _run(cache_dir, tmp_path):
    script = tmp_path / "driver_child.py"
    script.write_text(CHILD)
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_driver_alone_generates_machine_code_for_its_loop_and_the_kernels_under_it(tmp_path):
    cold = _run(tmp_path / "cache", tmp_path)
    expected = (2.0 * np.arange(12.0).reshape(4, 3) + np.arange(4.0)[:, None]).tolist()
    assert cold["out"] == expected
    # The driver only, with the linked-only kernel in it. numba also finalized the
    # loop body (__numba_parfor_gufunc_...), its gufunc wrapper, the threading
    # layer's wrapper and the kernel on their own, generating the kernel's code four
    # more times.
    assert [name for name in cold["emitted"] if name != "nrt"] == ["scale"]
    # A linked-only kernel has no code of its own to run: called from Python, it refuses.
    assert cold["refused"]
    # numba's own library class is back once the driver has compiled.
    assert cold["library_class"] == "JITCodeLibrary"
    # The driver is cached whole: a second process compiles nothing and gets the same.
    warm = _run(tmp_path / "cache", tmp_path)
    assert warm["compiled"] == 0
    assert warm["out"] == expected


def test_a_linked_only_library_generates_machine_code_when_asked_for_it():
    import ctypes

    from llvmlite import ir
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    from numrnn.kernels.jit import _LinkedOnlyLibrary

    codegen = cpu_target.target_context.codegen()
    library = _LinkedOnlyLibrary(codegen, "numrnn_test_linked_only")
    library.enable_object_caching()
    module = library.create_ir_module("numrnn_test_linked_only")
    function = ir.Function(module, ir.FunctionType(ir.IntType(64), []),
                           "numrnn_test_linked_only_answer")
    ir.IRBuilder(function.append_basic_block()).ret(ir.Constant(ir.IntType(64), 42))
    with global_compiler_lock:  # as numba compiles
        library.add_ir_module(module)
        library.finalize()
        assert not library._emitted  # linked and optimised, no machine code yet
        # A cache entry (machine code) or an address makes it generate its code, once.
        assert library.serialize_using_object_code()
        address = library.get_pointer_to_function("numrnn_test_linked_only_answer")
    assert ctypes.CFUNCTYPE(ctypes.c_int64)(address)() == 42
    assert library.get_pointer_to_function("no_such_function") == 0


CACHED_KERNEL = """
from numrnn.kernels.jit import kernel


@kernel
def plus_one(x):
    return x + 1
"""

LOAD_WHILE_A_DRIVER_LOWERS = r"""
import sys
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import cpu_target
from numrnn.kernels.jit import _LinkedOnlyLibrary
import cached_kernel

if sys.argv[1] == "load-in-window":
    # What a driver's lowering does (jit._LowerUnoptimised): every library numba
    # makes meanwhile is linked-only, one rebuilt from the disk cache included.
    codegen = cpu_target.target_context.codegen()
    with global_compiler_lock:
        codegen._library_class = _LinkedOnlyLibrary
        try:
            cached_kernel.plus_one.compile((types.int64,))
        finally:
            del codegen._library_class
print(cached_kernel.plus_one(41), cached_kernel.plus_one.stats.cache_hits)
"""


def test_a_kernel_loaded_from_the_disk_cache_while_a_driver_lowers_stays_callable(tmp_path):
    # A linked-only library rebuilt from a cache entry gave a null entry point:
    # calling the kernel from Python then crashed the process.
    (tmp_path / "cached_kernel.py").write_text(CACHED_KERNEL)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), SOURCE_ROOT]))
    results = []
    for mode in ("fill-the-cache", "load-in-window"):
        done = subprocess.run([sys.executable, "-c", LOAD_WHILE_A_DRIVER_LOWERS, mode],
                              capture_output=True, text=True, env=env, cwd=str(tmp_path),
                              timeout=600, check=False)
        assert done.returncode == 0, (mode, done.returncode, done.stderr[-3000:])
        results.append(done.stdout.split()[:1])
        hits = done.stdout.split()[1:]
    assert results == [["42"], ["42"]]
    assert hits and hits != ["Counter()"], hits  # the second process loaded it from disk


SHARED_CHILD = r"""
import json
import numpy as np
from numba.core import event
from numba.extending import register_jitable
from numrnn.kernels.jit import kernel, linked_kernel

recorder = event.RecordingListener()
event.register("numba:compile", recorder)


@register_jitable
def halved(n):
    return (n + 1) // 2


@linked_kernel
def linked_half(n):
    return halved(n)


@kernel
def both_halves(n):
    return halved(n) + linked_half(n)


print(json.dumps({"result": both_halves(np.int64(7)),
                  "compiled": [item.data["dispatcher"].py_func.__name__
                               for _, item in recorder.buffer if item.is_start]}))
"""


def test_a_function_that_kernels_and_linked_kernels_call_compiles_once(tmp_path):
    # numba compiles a library or register_jitable function once per set of compile
    # flags among its callers; a linked-only kernel is typed with a kernel's flags.
    script = tmp_path / "shared_child.py"
    script.write_text(SHARED_CHILD)
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=SOURCE_ROOT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["result"] == 8
    assert sorted(report["compiled"]) == ["both_halves", "halved", "linked_half"]
