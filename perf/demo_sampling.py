"""How the demo's sampling settings shape its sample: whitespace, runs of blanks, real words.

Run: ``numrnn demo --output demo.safetensors && python perf/demo_sampling.py demo.safetensors``.

For each setting (greedy, temperatures below and at 1, top-k) it draws
``--seeds`` samples of ``--chars`` characters after the demo's prompt and
reports the mean share of whitespace characters, the median longest
whitespace run, how many samples hold a run of 40 or more whitespace
characters, and the share of the generated words (runs of letters and
underscores) that occur in the training corpus. The corpus's own whitespace
share is printed first for comparison. The numbers quoted in
``numrnn/demo.py`` and ``docs/training.md`` come from this script.
"""

import argparse
import inspect
import re
import statistics

import numrnn
from numrnn.data import stdlib_corpus
from numrnn.demo import run_demo
from numrnn.generate import generate_text

SETTINGS = [(0.0, None), (0.6, None), (0.8, None), (1.0, None), (1.0, 3), (1.0, 5), (1.0, 8)]
LONG_RUN = 40
WORD = re.compile(r"[A-Za-z_]+")
BLANKS = re.compile(r"\s+")


def measure(model, prompt, chars, seeds, temperature, top_k, corpus_words):
    shares, longest, real = [], [], []
    for seed in range(seeds):
        sample = generate_text(model, prompt, chars, temperature=temperature, top_k=top_k,
                               rng=seed)
        shares.append(sum(char.isspace() for char in sample) / len(sample))
        longest.append(max((len(run) for run in BLANKS.findall(sample)), default=0))
        words = WORD.findall(sample)
        real.append(sum(word in corpus_words for word in words) / len(words) if words else 0.0)
    return (statistics.mean(shares), statistics.median(longest),
            sum(run >= LONG_RUN for run in longest), statistics.mean(real))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model saved by numrnn demo --output")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--chars", type=int, default=240)
    args = parser.parse_args()
    model = numrnn.load_model(args.model)
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(run_demo).parameters.items()}
    prompt = defaults["prompt"]
    corpus = stdlib_corpus(max_chars=defaults["corpus_chars"])
    corpus_words = set(WORD.findall(corpus))
    print(f"corpus: {sum(char.isspace() for char in corpus) / len(corpus):.2f} whitespace")
    print(f"{args.seeds} samples of {args.chars} characters after {prompt!r}:")
    for temperature, top_k in SETTINGS:
        share, median_run, long_runs, real = measure(model, prompt, args.chars, args.seeds,
                                                     temperature, top_k, corpus_words)
        print(f"temperature {temperature:<4} top-k {str(top_k):<5}: whitespace {share:.2f}, "
              f"longest run median {median_run:.0f}, runs >= {LONG_RUN} in {long_runs:>2}/"
              f"{args.seeds}, words from the corpus {real:.2f}")


if __name__ == "__main__":
    main()
