"""numrnn's speed-up with threads: ``perf/compare.py --threads N`` for each N, side by side.

Run: ``python perf/thread_scaling.py [--threads 1,2] [--configs medium,large]
[--cells LSTM,GRU,RNN] [--out DIR]``.

Thread pools read their size when they start, so every thread count runs in a
fresh process (compare.py with ``--no-peers``); the table gives each row's median
per thread count and the speed-up over the first count. The issue's target:
training at medium and large at least 1.7x faster on 2 threads than on 1.
Runs are sequential, so load from other processes can differ between them:
repeat on a shared machine before trusting a single figure.
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--configs", default="medium,large")
    parser.add_argument("--cells", default="LSTM,GRU,RNN")
    parser.add_argument("--modes", default="infer,train")
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per row")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "thread_scaling"))
    args = parser.parse_args(argv)

    counts = [int(n) for n in args.threads.split(",")]
    runs = {}
    for count in counts:
        out = os.path.join(args.out, f"threads-{count}")
        subprocess.run([sys.executable, os.path.join(HERE, "compare.py"), "--no-peers",
                        "--threads", str(count), "--configs", args.configs, "--cells",
                        args.cells, "--modes", args.modes, "--budget", str(args.budget),
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        runs[count] = harness.load_json(os.path.join(out, "compare.json"))

    first = counts[0]
    header = "| cell | config | mode | " + " | ".join(f"{n} thr ms" for n in counts) + " | " \
        + " | ".join(f"speed-up {n}/{first}" for n in counts[1:]) + " |"
    lines = [f"Measured at git {runs[first]['machine']['git']} on "
             f"{runs[first]['machine']['cpu']} ({runs[first]['machine']['cores']} cores), "
             f"load average at the end of each run: "
             + ", ".join(f"{n} thr {runs[n]['machine']['load_average']}" for n in counts), "",
             header, "|" + "---|" * 3 + "---:|" * (2 * len(counts) - 1)]
    for index, row in enumerate(runs[first]["rows"]):
        times = [runs[n]["rows"][index]["timings"]["numrnn"]["median_ms"] for n in counts]
        name = row["cell"] if row["layers"] == 1 else "LSTM 2-layer bi"
        lines.append(f"| {name} | {row['config']} | {row['mode']} | "
                     + " | ".join(f"{t:.1f}" for t in times) + " | "
                     + " | ".join(f"{times[0] / t:.2f}x" for t in times[1:]) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    harness.write_report(args.out, "thread_scaling", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
