"""The ``numrnn`` command: ``numrnn demo`` trains a model, ``numrnn info`` describes the install."""

import argparse
import inspect
import sys

import numpy as np

from numrnn.errors import ArgumentError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numrnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from numrnn.demo import run_demo

    # The flags' defaults are run_demo's own, so the two never disagree.
    default = {name: parameter.default
               for name, parameter in inspect.signature(run_demo).parameters.items()}
    demo = commands.add_parser(
        "demo", help="train a character-level LSTM on Python's standard library, then sample",
        description="Train a character-level LSTM language model on the source of Python's "
                    "standard library by truncated BPTT, print the validation loss in bits per "
                    "character after each epoch, generate a sample, save the model as "
                    "safetensors, reload it with numrnn.load_model and check that it generates "
                    "the same sample.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--epochs", type=int, default=default["epochs"],
                      help="passes over the training text")
    demo.add_argument("--hidden-size", type=int, default=default["hidden_size"],
                      help="LSTM units per layer")
    demo.add_argument("--embedding-dim", type=int, default=default["embedding_dim"],
                      help="character embedding size")
    demo.add_argument("--num-layers", type=int, default=default["num_layers"],
                      help="stacked LSTM layers")
    demo.add_argument("--seq-length", type=int, default=default["seq_length"],
                      help="truncated-BPTT chunk length (steps)")
    demo.add_argument("--batch-size", type=int, default=default["batch_size"],
                      help="parallel text streams")
    demo.add_argument("--corpus-chars", type=int, default=default["corpus_chars"],
                      help="characters of standard-library source to use (10%% validation)")
    demo.add_argument("--lr", type=float, default=default["learning_rate"],
                      help="Adam learning rate")
    demo.add_argument("--sample-chars", type=int, default=default["sample_chars"],
                      help="characters to generate")
    demo.add_argument("--temperature", type=float, default=default["temperature"],
                      help="sampling temperature (0 = greedy)")
    demo.add_argument("--prompt", default=default["prompt"], help="text the sample continues")
    demo.add_argument("--seed", type=int, default=default["seed"],
                      help="seeds the weights and the sample")
    demo.add_argument("--output", default=default["output"], help="where to save the model")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    commands.add_parser("info", help="print versions, threading layer, threads and cache")

    from numrnn.warmup import CELLS, DTYPES
    warm = commands.add_parser(
        "warmup", help="compile every kernel this machine will use into the kernel cache",
        description="Compile every kernel that the chosen cell kinds and dtypes use, on every "
                    "path (inference, training, cells, streaming), into the kernel cache, so "
                    "that no later process pays for compiling. Run it when building a server "
                    "image, where the package is writable or with NUMBA_CACHE_DIR set to a "
                    "directory the image keeps, on the kind of CPU that will serve.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    warm.add_argument("--cells", default=",".join(CELLS),
                      help="comma-separated cell kinds")
    warm.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated dtypes")
    warm.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            run_demo(epochs=args.epochs, hidden_size=args.hidden_size,
                     embedding_dim=args.embedding_dim, num_layers=args.num_layers,
                     seq_length=args.seq_length, batch_size=args.batch_size,
                     corpus_chars=args.corpus_chars, learning_rate=args.lr,
                     sample_chars=args.sample_chars, temperature=args.temperature,
                     prompt=args.prompt, seed=args.seed, output=args.output,
                     progress=not args.no_progress)
        except ArgumentError as error:
            # A refused flag value is the user's input, not a bug: one line, no traceback.
            print(f"numrnn demo: {error}", file=sys.stderr)
            return 2
    elif args.command == "warmup":
        return _warmup(args)
    else:
        print(info_text())
    return 0


def _warmup(args):
    from numrnn.warmup import warmup

    try:
        result = warmup(cells=_names(args.cells), dtypes=_names(args.dtypes),
                        progress=not args.no_progress)
    except ValueError as error:
        print(f"numrnn warmup: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"numrnn warmup: {error}", file=sys.stderr)
        return 1
    print(f"numrnn warmup: {result['compiled']} kernels compiled, {result['loaded']} loaded "
          f"from the cache, in {result['seconds']:.1f} s; cache: {result['cache']}")
    return 0


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def info_text():
    """Versions and runtime settings a bug report needs."""
    import numba
    import scipy

    import numrnn
    from numrnn.kernels import blas, kernel_cache, threading_layer

    lines = [
        f"numrnn {numrnn.__version__}",
        f"python {sys.version.split()[0]}",
        f"numpy {np.__version__}",
        f"numba {numba.__version__}",
        f"scipy {scipy.__version__}",
        f"threading layer: {threading_layer.describe()}",
        f"threads: {numba.get_num_threads()} of {numba.config.NUMBA_NUM_THREADS}",
        f"kernel cache: {kernel_cache.describe()}",
        f"kernel GEMM: {blas.DESCRIPTION[blas.SOURCE]}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
