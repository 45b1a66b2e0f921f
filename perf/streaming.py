"""Latency of one streaming step (``Streamer.step``), Python overhead included.

Run: ``python perf/streaming.py [--threads N] [--out FILE]``.

Each sample is a Python loop of ``--steps`` calls of ``stream.step(frame)``;
the figures are the median and the fastest sample per step, in µs (on a
shared machine the fastest is the one least disturbed by other processes).
Interleaved with the same loop over numrnn's own ``nn.LSTMCell`` (the tape op,
under ``no_grad``) and PyTorch's ``torch.nn.LSTMCell`` (under
``torch.no_grad``) when torch is installed. The
issue's target: LSTM, batch 1, hidden 128, input 32, at most 5 µs.
"""

import argparse
import os
import sys

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _parser.add_argument("--threads", type=int, default=None)
    _parser.add_argument("--steps", type=int, default=2000, help="steps per timed sample")
    _parser.add_argument("--budget", type=float, default=1.0, help="seconds per case")
    _parser.add_argument("--out", default=None, help="also write the results as JSON here")
    ARGS = _parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

    harness.set_thread_env(ARGS.threads)

import importlib.util  # noqa: E402

import harness  # noqa: E402
import numpy as np  # noqa: E402

# (cell, batch, input, hidden, layers, dtype)
CASES = [
    ("LSTM", 1, 32, 128, 1, np.float32),
    ("LSTM", 1, 32, 128, 1, np.float64),
    ("LSTM", 4, 32, 128, 1, np.float32),
    ("LSTM", 1, 32, 128, 2, np.float32),
    ("GRU", 1, 32, 128, 1, np.float32),
    ("RNN", 1, 32, 128, 1, np.float32),
    ("LSTM", 1, 64, 256, 1, np.float32),
]


def loop(fn, steps):
    def run():
        for _ in range(steps):
            fn()
    return run


def contestants(cell, batch, n_in, hidden, layers, dtype, steps, with_torch):
    import numrnn
    from numrnn import nn

    layer = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell](
        n_in, hidden, num_layers=layers, dtype=dtype, rng=0)
    stream = layer.streamer(batch)
    frame = np.random.default_rng(0).standard_normal((batch, n_in)).astype(dtype)
    runners = {"streamer": loop(lambda: stream.step(frame), steps)}
    if layers != 1:
        return runners
    cell_class = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN": nn.RNNCell}[cell]
    own_cell = cell_class(n_in, hidden, dtype=dtype, rng=0)
    x_tensor, h_tensor = numrnn.Tensor(frame), numrnn.Tensor(np.zeros((batch, hidden), dtype))
    state = (h_tensor, h_tensor) if cell == "LSTM" else h_tensor

    def own_step():
        with numrnn.no_grad():
            own_cell(x_tensor, state)
    runners["numrnn cell"] = loop(own_step, steps)
    if with_torch:
        import torch

        torch_cell = {"LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell,
                      "RNN": torch.nn.RNNCell}[cell](n_in, hidden)
        if dtype == np.float64:
            torch_cell = torch_cell.double()
        x_torch = torch.from_numpy(frame)
        h_torch = torch.zeros(batch, hidden, dtype=x_torch.dtype)
        torch_state = (h_torch, h_torch) if cell == "LSTM" else h_torch

        def torch_step():
            with torch.no_grad():
                torch_cell(x_torch, torch_state)
        runners["torch cell"] = loop(torch_step, steps)
    return runners


def main(args):
    harness.set_numrnn_threads(args.threads)
    with_torch = importlib.util.find_spec("torch") is not None
    if with_torch and args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    results = []
    print("µs per step, median (fastest sample)")
    print(f"{'case':<40} {'streamer':>15} {'numrnn cell':>15} {'torch cell':>15}")
    for cell, batch, n_in, hidden, layers, dtype in CASES:
        runners = contestants(cell, batch, n_in, hidden, layers, dtype, args.steps, with_torch)
        timings = harness.interleaved(runners, args.budget, warmup=1, min_rounds=5)
        per_step = {name: 1e3 * t["median_ms"] / args.steps for name, t in timings.items()}
        fastest = {name: 1e3 * t["min_ms"] / args.steps for name, t in timings.items()}
        name = (f"{cell} B={batch} I={n_in} H={hidden} L={layers} "
                f"{np.dtype(dtype).name}")
        results.append({"case": name, "per_step_us": per_step, "fastest_per_step_us": fastest})
        cells = [f"{per_step[k]:.1f} ({fastest[k]:.1f})" if k in per_step else "—"
                 for k in ("streamer", "numrnn cell", "torch cell")]
        print(f"{name:<40} {cells[0]:>15} {cells[1]:>15} {cells[2]:>15}", flush=True)
    if not with_torch:
        print("torch is not installed: its LSTMCell was not timed")
    if args.out:
        harness.write_json(args.out, {"machine": harness.machine_info(args.threads),
                                      "steps_per_sample": args.steps, "cases": results})
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
