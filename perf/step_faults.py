"""Page faults per warm training step of an nn layer: how much memory a step faults in.

Run: ``python perf/step_faults.py [--cell LSTM|GRU|RNN] [--batch 32] [--steps 10]``.

Builds ``nn.<cell>(64, 128)``, runs three warm-up training steps (forward over a
(50, B, 64) float32 input, backward from a seed of ones), then prints the minor page
faults (``ru_minflt``) per step over ``--steps`` more, as JSON. A step whose memory
is reused between calls faults next to nothing in; one whose arrays go back to the
system at the end of each step faults them in again, 4 KB at a time (Linux; the
count depends on glibc's allocator and on what else the process allocates, which
is why this is a measurement here and not a unit test).
"""

import argparse
import json
import resource
import sys

import numpy as np

from numrnn import nn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("LSTM", "GRU", "RNN"), default="LSTM")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[args.cell](64, 128, rng=0)
    x = np.random.default_rng(0).standard_normal((50, args.batch, 64)).astype(np.float32)
    seed = np.ones((50, args.batch, 128), dtype=np.float32)

    def step():
        for parameter in layer.parameters():
            parameter.grad = None
        layer(x)[0].backward(seed)

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.steps):
        step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(json.dumps({"cell": args.cell, "batch": args.batch,
                      "faults_per_step": (after - before) / args.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
