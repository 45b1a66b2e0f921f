"""The ``numrnn`` command: parse the command line, run one command, report refusals in one line.

Every refusal (a numrnn error or an ``OSError``: a bad flag value, a missing
or malformed file, an output that cannot be written) is one line on stderr,
``numrnn COMMAND: error: ...``, and exit status 2, argparse's convention for
bad usage; a traceback means a bug. The help texts are plain text because
argparse prints them as they are.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from numrnn.errors import NumrnnError

if TYPE_CHECKING:
    from collections.abc import Sequence

DESCRIPTION = """\
Recurrent neural networks on CPUs. Train and sample the demo model, run a saved
model over sequences, sample text from a saved language model, look into a
weight file without loading it, and prepare a machine or a server image."""

EPILOG = """\
exit status: 0 on success; 2 when a value, an input file or an output path is
refused, with one line on stderr: 'numrnn COMMAND: error: ...'; 1 when warmup
cannot write the kernel cache. 'numrnn COMMAND --help' describes each command."""

PREDICT_FORMATS = """\
formats: a sequence is integer token ids (T,) or float features (T, I); the
dtype says which. .npy: one array, (T,) or (T, I) for one sequence, (B, T) or
(B, T, I) for a batch of B. .npz: named arrays, each as in .npy. .jsonl (or
.ndjson, or - for stdin): one sequence per line, a list of ints or a list of
T lists of I numbers; lines may differ in length. Outputs follow the input:
one (T, O) array per sequence, as one .npy array (every output one shape),
one .npz array per input array under its name (arr_0, arr_1, ... for .npy and
JSON-lines inputs), or one JSON line per sequence in input order (the default,
on stdout). The model is rebuilt from its config (numrnn.load_model), run in
eval mode, fed (T, B, ...) or, when built with batch_first, (B, T, ...); its
output (the first element of a tuple) must keep the time and batch axes."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a refused command line reported in one line like every other refusal."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int | str | None:
    """Run ``numrnn`` on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a refused command line
        return stop.code
    try:
        return args.run(args)
    except (NumrnnError, OSError) as error:
        print(f"numrnn {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A script that interrupts a run expects the shell's status for SIGINT, not a
        # traceback.
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The ``numrnn`` argument parser with its commands."""
    import numrnn

    parser = _Parser(prog="numrnn", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"numrnn {numrnn.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(commands)
    _add_predict(commands)
    _add_generate(commands)
    _add_inspect(commands)
    _add_convert(commands)
    info = commands.add_parser("info", help="print versions, threading layer, threads and cache",
                               description="Print the versions, the Numba threading layer, "
                                           "the thread count and the kernel cache directory: "
                                           "what a bug report needs.")
    info.set_defaults(run=_run_info)
    _add_warmup(commands)
    return parser


def _add_demo(commands):
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
                    "the same sample. The output path is checked before training starts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    demo.add_argument("--epochs", type=_positive_int, default=default["epochs"],
                      help="passes over the training text")
    demo.add_argument("--hidden-size", type=_positive_int, default=default["hidden_size"],
                      help="LSTM units per layer")
    demo.add_argument("--embedding-dim", type=_positive_int, default=default["embedding_dim"],
                      help="character embedding size")
    demo.add_argument("--num-layers", type=_positive_int, default=default["num_layers"],
                      help="stacked LSTM layers")
    demo.add_argument("--seq-length", type=_positive_int, default=default["seq_length"],
                      help="truncated-BPTT chunk length (steps)")
    demo.add_argument("--batch-size", type=_positive_int, default=default["batch_size"],
                      help="parallel text streams")
    demo.add_argument("--corpus-chars", type=_positive_int, default=default["corpus_chars"],
                      help="characters of standard-library source to use (10%% validation)")
    demo.add_argument("--lr", type=_positive_float, default=default["learning_rate"],
                      help="Adam learning rate")
    demo.add_argument("--sample-chars", type=_count, default=default["sample_chars"],
                      help="characters to generate")
    demo.add_argument("--prompt", default=default["prompt"], help="text the sample continues")
    _add_sampling(demo, default["temperature"], default["top_k"])
    demo.add_argument("--seed", type=_count, default=default["seed"],
                      help="seeds the weights and the sample")
    demo.add_argument("--output", default=default["output"], help="where to save the model")
    demo.add_argument("--no-progress", action="store_true",
                      help="print nothing while an epoch runs (by default a progress bar when "
                           "stderr is a terminal, and nothing else)")
    demo.set_defaults(run=_run_demo)


def _add_sampling(parser, temperature, top_k):
    parser.add_argument("--temperature", type=_nonnegative_float, default=temperature,
                        help="sampling temperature: below 1 sharpens, 0 is greedy")
    parser.add_argument("--top-k", type=_positive_int, default=top_k,
                        help="sample among the k most likely characters only (default: all)")


def _add_predict(commands):
    predict = commands.add_parser(
        "predict", help="run a saved model over sequences from .npy, .npz or JSON lines",
        description="Run the model saved in MODEL (by numrnn.save) over every sequence in "
                    "INPUT and write one output per sequence.",
        epilog=PREDICT_FORMATS, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("model", metavar="MODEL", help="safetensors file with a model config")
    predict.add_argument("input", metavar="INPUT", help=".npy, .npz, .jsonl/.ndjson, or - "
                                                        "for JSON lines on stdin")
    predict.add_argument("--output", "-o", default="-",
                         help=".npy, .npz or .jsonl/.ndjson file, by its extension; checked "
                              "before any work (default: -, JSON lines on stdout)")
    predict.add_argument("--batch-size", type=_positive_int, default=64,
                         help="most sequences per model call (default: 64)")
    predict.set_defaults(run=_run_predict)


def _add_generate(commands):
    generate = commands.add_parser(
        "generate", help="sample text from a saved character language model",
        description="Continue PROMPT with characters sampled from the language model saved in "
                    "MODEL (a numrnn.CharLanguageModel with its vocabulary, as numrnn demo "
                    "saves), and print the prompt and the sample.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    generate.add_argument("model", metavar="MODEL", help="safetensors file of a language model")
    generate.add_argument("--prompt", required=True, help="text the sample continues")
    _add_sampling(generate, 1.0, None)
    generate.add_argument("--length", type=_count, default=200, help="characters to generate")
    generate.add_argument("--top-p", type=_probability, default=None,
                          help="nucleus sampling: the most likely characters whose "
                               "probabilities add up to p")
    generate.add_argument("--seed", type=_count, default=None,
                          help="the same seed gives the same sample (default: random)")
    generate.add_argument("--output", "-o", default=None,
                          help="also write the text to this file (checked before sampling)")
    generate.set_defaults(run=_run_generate)


def _add_inspect(commands):
    inspect_parser = commands.add_parser(
        "inspect", help="show what a weight file holds without loading it",
        description="Show what the safetensors, ONNX (.onnx) or Keras (.keras, .weights.h5) "
                    "file FILE holds: what kind of file it is, the model's class and config "
                    "(an ONNX graph's inputs, outputs and ops; a Keras file's recurrent "
                    "layers), its metadata, and every tensor's name, dtype, shape and size. "
                    "The file is checked as loading checks it; nothing in it is run.")
    inspect_parser.add_argument("file", metavar="FILE",
                                help="safetensors, .onnx, .keras or .weights.h5 file")
    inspect_parser.add_argument("--json", action="store_true",
                                help="print one JSON document instead of text")
    inspect_parser.set_defaults(run=_run_inspect)


def _add_convert(commands):
    convert = commands.add_parser(
        "convert", help="convert a model between safetensors, ONNX and Keras files",
        description="Read the model in IN and write it to OUT, each format by its extension: "
                    ".safetensors (a numrnn model, or the state_dict of one PyTorch RNN, LSTM "
                    "or GRU), .onnx, and Keras's .keras or .weights.h5 (read only). A Keras "
                    "layer becomes a batch_first numrnn layer; an ONNX file a numrnn "
                    "OnnxGraph, which ONNX export does not take. OUT is checked before IN "
                    "is read and replaced whole at the end.")
    convert.add_argument("input", metavar="IN", help=".safetensors, .onnx, .keras or .h5 file")
    convert.add_argument("output", metavar="OUT", help=".safetensors or .onnx file")
    convert.add_argument("--layer", default=None,
                         help="the Keras layer to convert, when the file holds several")
    convert.add_argument("--prefix", default=None,
                         help="convert the PyTorch sub-module under this prefix (encoder.)")
    convert.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh",
                         help="a PyTorch RNN's nonlinearity, which its file does not record "
                              "(default: tanh)")
    convert.set_defaults(run=_run_convert)


def _add_warmup(commands):
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
    warm.set_defaults(run=_warmup)


def _run_demo(args):
    from numrnn.demo import run_demo

    run_demo(epochs=args.epochs, hidden_size=args.hidden_size,
             embedding_dim=args.embedding_dim, num_layers=args.num_layers,
             seq_length=args.seq_length, batch_size=args.batch_size,
             corpus_chars=args.corpus_chars, learning_rate=args.lr,
             sample_chars=args.sample_chars, temperature=args.temperature, top_k=args.top_k,
             prompt=args.prompt, seed=args.seed, output=args.output,
             progress=False if args.no_progress else None)
    return 0


def _run_predict(args):
    from numrnn.commands.predict import predict_file

    predict_file(args.model, args.input, args.output, batch_size=args.batch_size)
    return 0


def _run_generate(args):
    from numrnn.commands.generation import generate_from_file

    text = generate_from_file(args.model, args.prompt, args.length,
                              temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                              seed=args.seed, output=args.output)
    print(text)
    return 0


def _run_inspect(args):
    from numrnn.commands.inspect_file import as_json, as_text, describe

    description = describe(args.file)
    print(as_json(description) if args.json else as_text(description))
    return 0


def _run_convert(args):
    from numrnn.commands.convert import convert_file

    print(convert_file(args.input, args.output, layer=args.layer, prefix=args.prefix,
                       nonlinearity=args.nonlinearity))
    return 0


def _run_info(args):
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


def _one_line(error):
    # Messages that list several problems (a file that does not fit a module) span
    # lines; a script reading stderr gets them on one.
    message = str(error)
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.strerror}: {error.filename!r}"
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def _positive_int(text):
    return _number(text, int, lambda value: value >= 1, "an int >= 1")


def _count(text):
    return _number(text, int, lambda value: value >= 0, "an int >= 0")


def _positive_float(text):
    return _number(text, float, lambda value: value > 0, "a number > 0")


def _nonnegative_float(text):
    return _number(text, float, lambda value: value >= 0, "a number >= 0")


def _probability(text):
    return _number(text, float, lambda value: 0 < value <= 1, "a number in (0, 1]")


def _number(text, kind, accepts, expected):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not accepts(value):
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
    return value


def info_text() -> str:
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
