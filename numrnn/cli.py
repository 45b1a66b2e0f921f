"""The ``numrnn`` command: ``numrnn demo`` trains a model, ``numrnn info`` describes the install."""

import argparse
import sys

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numrnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a small LSTM forecaster on noisy sine waves")
    demo.add_argument("--epochs", type=int, default=8, help="passes over the training set")
    demo.add_argument("--hidden-size", type=int, default=32)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    commands.add_parser("info", help="print versions, threading layer, threads and cache")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from numrnn.demo import run_demo

        run_demo(epochs=args.epochs, hidden_size=args.hidden_size, seed=args.seed,
                 progress=not args.no_progress)
    else:
        print(info_text())
    return 0


def info_text():
    """Versions and runtime settings a bug report needs."""
    import numba
    import scipy

    import numrnn

    cache_dir = numba.config.CACHE_DIR or "next to each module (__pycache__); set NUMBA_CACHE_DIR"
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = f"not chosen yet (requested: {numba.config.THREADING_LAYER})"
    lines = [
        f"numrnn {numrnn.__version__}",
        f"python {sys.version.split()[0]}",
        f"numpy {np.__version__}",
        f"numba {numba.__version__}",
        f"scipy {scipy.__version__}",
        f"threading layer: {layer}",
        f"threads: {numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS}",
        f"kernel cache: {cache_dir}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
