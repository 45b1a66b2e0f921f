"""numrnn on numba's TBB threading layer against GNU OpenMP, each in fresh processes.

Run: ``python perf/threading_layers.py [--rounds 3] [--budget 0.5] [--configs ...]``.

Each round starts one fresh process per layer, alternating (tbb, omp, tbb, ...),
and each process times every row of ``perf/compare.py`` (numrnn alone, its
inference and training calls, medians of interleaved calls after warm-up).
The ``omp`` processes run as numrnn ran before it chose TBB: numba's OpenMP
layer with ``OMP_WAIT_POLICY=PASSIVE``; the ``tbb`` ones with numrnn's
defaults. Reported per row: the median over rounds of each process's median,
and the ratio tbb / omp (below 1: TBB is faster). As on users' machines,
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are unset in the children
unless ``--keep-openblas-env`` is given.

Writes ``threading_layers.md`` and ``threading_layers.json`` into ``--out``.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LAYER_ENV = {"tbb": {}, "omp": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "PASSIVE"}}
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def vector_extensions():
    """The widest x86 vector extensions the CPU reports (``lscpu`` flags)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle
                          if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")
    return " ".join(flag for flag in wanted if flag in flags) or "none of AVX2/AVX-512"


def child(args):
    """Time every row in this process; print one JSON line."""
    sys.path[:0] = [HERE, os.path.dirname(HERE)]
    import compare
    import harness
    import numba
    import numpy as np
    import peers

    timings = {}
    for cell, config, mode, layers, bidirectional in compare.rows(args):
        batch, steps, n_in, hidden = compare.CONFIGS[config]
        module = peers.make_numrnn(cell, {"input": n_in, "hidden": hidden, "layers": layers,
                                          "bidirectional": bidirectional})
        x = np.random.default_rng(1).standard_normal((steps, batch, n_in)).astype(np.float32)
        infer, train, *_ = peers.numrnn_runners(module, x)
        runner = infer if mode == "infer" else train
        result = harness.interleaved({"numrnn": runner}, args.budget)
        name = cell if layers == 1 else f"{cell} {layers}-layer{' bi' if bidirectional else ''}"
        timings[f"{name}|{config}|{mode}"] = result["numrnn"]["median_ms"]
    print(json.dumps({"layer": numba.threading_layer(), "timings": timings}))


def run_child(layer, args):
    sys.path.insert(0, HERE)
    import harness

    env = dict(os.environ, **LAYER_ENV[layer])
    if layer == "tbb":
        env.pop("OMP_WAIT_POLICY", None)
        env.pop("NUMBA_THREADING_LAYER", None)
    if not args.keep_openblas_env:
        for name in OPENBLAS_VARIABLES:
            env.pop(name, None)
    command = [sys.executable, __file__, "--child", "--budget", str(args.budget),
               "--cells", args.cells, "--modes", args.modes]
    if args.configs:
        command += ["--configs", args.configs]
    result = harness.child_json(command, f"the {layer} child", env=env)
    if result["layer"] != layer:
        raise RuntimeError(f"asked for the {layer} layer, the child ran {result['layer']}")
    return result["timings"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timing per row")
    parser.add_argument("--cells", default="LSTM,GRU,RNN,LSTM-bi")
    parser.add_argument("--configs", default=None)
    parser.add_argument("--modes", default="infer,train")
    parser.add_argument("--keep-openblas-env", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.quick, args.no_peers = False, True
        return child(args)

    sys.path[:0] = [HERE, os.path.dirname(HERE)]
    import harness

    runs = {"tbb": [], "omp": []}
    for round_index in range(args.rounds):
        for layer in ("tbb", "omp"):
            runs[layer].append(run_child(layer, args))
            print(f"round {round_index + 1}: {layer} done", flush=True)
    rows = []
    for key in runs["tbb"][0]:
        tbb = harness.median([timings[key] for timings in runs["tbb"]])
        omp = harness.median([timings[key] for timings in runs["omp"]])
        rows.append({"row": key, "tbb_ms": tbb, "omp_ms": omp, "ratio": tbb / omp})
    machine = dict(harness.machine_info(None), vector_extensions=vector_extensions())
    lines = [f"# numba threading layers: tbb / omp ({args.rounds} rounds, fresh processes)", "",
             f"Machine: {machine['cpu']} ({machine['vector_extensions']}), "
             f"{machine['cores']} cores; OpenBLAS variables "
             f"{'kept' if args.keep_openblas_env else 'unset'}.", "",
             "| row | tbb ms | omp ms | tbb / omp |", "|---|---|---|---|"]
    lines += [f"| {row['row'].replace('|', ' ')} | {row['tbb_ms']:.3f} | {row['omp_ms']:.3f} | "
              f"{row['ratio']:.3f} |" for row in rows]
    ratios = sorted(row["ratio"] for row in rows)
    lines += ["", f"Ratios: min {ratios[0]:.3f}, median {harness.median(ratios):.3f}, "
                  f"max {ratios[-1]:.3f}."]
    text = "\n".join(lines) + "\n"
    print(text)
    harness.write_report(args.out, "threading_layers", text,
                         {"machine": machine, "runs": runs, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
