"""Where the layer-normalised LSTM's training step spends its time, on one thread.

Run: ``python perf/layer_norm_lstm_parts.py [--configs small,medium] [--budget 5]
[--out FILE]``.

The step of ``perf/layer_norm_lstm.py`` (float32, compare.py's sizes) taken
apart in a fresh interpreter per config with every pool capped at one thread,
timed in CPU time (``time.process_time``), which load from other processes
distorts least: the kernels of :mod:`numrnn.kernels.lstm_layer_norm` and
:mod:`numrnn.kernels.lstm_layer_norm_backward` (forward keeping its residuals;
backward to every weight, no ``dx``, as the step needs), and, alone, the
products inside them: the input projection and the weight gradients (single-
threaded GEMMs through :mod:`numrnn.kernels.gemm`), the recurrent products of
the forward and backward loops (:func:`numrnn.kernels.matvec.product` on the
packed weights, T steps per batch block, no row work), and the normalisation
of the input projection. What the loops spend beyond their products is their
row work (normalisation, gates, residual traffic). Then the whole step through
``numrnn.nn.LSTM(layer_norm=True)``, with the page faults and the system CPU
time it costs per call (``getrusage``). Medians of interleaved rounds.
"""

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from layer_norm_lstm import CONFIGS  # noqa: E402


def _parts(shape):
    """``{name: callable}`` of the kernel parts at ``shape`` (B, T, I, H), float32."""
    import numpy as np
    from numba import prange

    from numrnn.kernels import lstm_layer_norm as forward
    from numrnn.kernels import lstm_layer_norm_backward as backward
    from numrnn.kernels.common import block_rows
    from numrnn.kernels.gemm import matmul
    from numrnn.kernels.gradient_products import gradient_products
    from numrnn.kernels.jit import parallel_kernel
    from numrnn.kernels.layer_norm_rows import normalise_rows
    from numrnn.kernels.matvec import product, product_weight
    from numrnn.kernels.plan import block_count, plan_for

    batch, steps, n_in, hidden = shape
    rng = np.random.default_rng(0)

    def draw(*size, offset=0.0):
        return (offset + 0.1 * rng.standard_normal(size)).astype(np.float32)

    x = draw(steps, batch, n_in)
    weights = (draw(4 * hidden, n_in), draw(4 * hidden, hidden), draw(4 * hidden),
               draw(4 * hidden), draw(4 * hidden, offset=1.0), draw(4 * hidden),
               draw(4 * hidden, offset=1.0), draw(4 * hidden), draw(hidden, offset=1.0),
               draw(hidden))
    states = (np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32))
    lengths = np.full(batch, steps, dtype=np.int64)
    no_mask = np.zeros((0, 0), np.float32)
    seed = np.ones((steps, batch, hidden), np.float32)
    needs = (False, False, False) + (True,) * 10
    saved = forward.run(x, states, weights, lengths, False, True, no_mask)[2]
    plan = plan_for(np.dtype(np.float32), batch, steps, n_in, hidden, 4, joint=False)
    weight_t = product_weight(weights[1].T, plan.recurrent_weight)
    weight = product_weight(weights[1], plan.backward_weight)

    @parallel_kernel
    def products_only(packed, rows_in, columns):
        for block in prange(block_count(batch)):
            first, stop = block_rows(np.int64(block), batch)
            rows = np.full((stop - first, rows_in), np.float32(0.01))
            out = np.empty((stop - first, columns), np.float32)
            for _ in range(steps):
                product(rows, packed, out)

    projected = np.empty((steps, batch, 4 * hidden), np.float32)
    inverse = np.empty((steps, batch, 4), np.float32)
    flat_rec = saved[4].reshape(steps * batch, 4 * hidden)
    flat_x, flat_h = x.reshape(steps * batch, n_in), saved[8].reshape(steps * batch, hidden)

    def weight_gradients():
        # The backward's own call (dx not wanted, as at the step), dR standing in for dP.
        gradient_products(flat_rec, weights[0], flat_x, flat_h, (False, True, True),
                          recurrent_grads=flat_rec)

    def step_kernels():
        out, finals, kept = forward.run(x, states, weights, lengths, False, True, no_mask)
        backward.backward_run(seed, states, x, states, weights, kept, lengths, False, needs,
                              no_mask)

    return {
        "forward kernel (residuals kept)":
            lambda: forward.run(x, states, weights, lengths, False, True, no_mask),
        "forward + backward kernels": step_kernels,
        "input projection GEMM": lambda: matmul(flat_x, weights[0].T),
        "normalise the projection": lambda: normalise_rows(projected, inverse),
        "forward recurrent products": lambda: products_only(weight_t, hidden, 4 * hidden),
        "backward recurrent products": lambda: products_only(weight, 4 * hidden, hidden),
        "dW_ih + dW_hh GEMMs": weight_gradients,
    }


def _layer_step(shape):
    """The training step through the layer, as perf/layer_norm_lstm.py times it."""
    from layer_norm_lstm import numrnn_step

    return numrnn_step(shape)


def measure(config, budget):
    """Run in the child: CPU ms per part, then the layer step's faults and system time."""
    shape = CONFIGS[config]
    runners = dict(_parts(shape), **{"whole step through nn.LSTM": _layer_step(shape)})
    for runner in runners.values():
        runner()
    samples = {name: [] for name in runners}
    end = time.perf_counter() + budget
    while time.perf_counter() < end or min(map(len, samples.values())) < 5:
        for name, runner in runners.items():
            start = time.process_time()
            runner()
            samples[name].append(time.process_time() - start)
    result = {"cpu_ms": {name: 1e3 * harness.median(values) for name, values in samples.items()}}
    step, calls = runners["whole step through nn.LSTM"], 10
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(calls):
        step()
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["page_faults_per_step"] = (after.ru_minflt - before.ru_minflt) / calls
    result["system_ms_per_step"] = 1e3 * (after.ru_stime - before.ru_stime) / calls
    result["user_ms_per_step"] = 1e3 * (after.ru_utime - before.ru_utime) / calls
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,medium",
                        help="comma-separated subset of " + ",".join(CONFIGS))
    parser.add_argument("--budget", type=float, default=5.0,
                        help="seconds of timed rounds per config")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown config {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    harness.set_thread_env(1)
    if args.child:
        print(json.dumps(measure(args.child, args.budget)))
        return
    report = {"cpu": harness.cpu_model(), "git": harness.git_state(), "rows": {}}
    for config in configs:
        report["rows"][config] = harness.child_json(
            [sys.executable, os.path.abspath(__file__), "--child", config,
             "--budget", str(args.budget)], f"{config} child")
    print(f"Layer-normalised LSTM step taken apart, float32, one thread, CPU ms "
          f"({report['cpu']}, load average {os.getloadavg()[0]:.1f})\n")
    print("| part | " + " | ".join(f"{c} {CONFIGS[c]}" for c in configs) + " |")
    print("|---|" + "---:|" * len(configs))
    for name in report["rows"][configs[0]]["cpu_ms"]:
        print(f"| {name} | " + " | ".join(f"{report['rows'][c]['cpu_ms'][name]:.2f}"
                                          for c in configs) + " |")
    for key in ("page_faults_per_step", "system_ms_per_step", "user_ms_per_step"):
        print(f"| {key.replace('_', ' ')} | " + " | ".join(
            f"{report['rows'][c][key]:.1f}" for c in configs) + " |")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
