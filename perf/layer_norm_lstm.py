"""Layer-normalised LSTM, forward + backward: numrnn against PyTorch, each in a fresh process.

Run: ``python perf/layer_norm_lstm.py [--configs small,medium] [--budget 3] [--out FILE]``.

PyTorch has no layer-normalised LSTM (pytorch#7032): its users write the cell
themselves, a Python loop over the steps with two ``nn.Linear`` products and
``LayerNorm`` on the gate pre-activations, since ``LSTMCell`` gives no access
to them. The PyTorch side here is that cell, computing what
``numrnn.nn.LSTM(layer_norm=True)`` computes: each gate block of ``W_ih x`` and
of ``W_hh h`` normalised on its own (``layer_norm`` over the (B, 4, H) view),
a gain and shift per gate row, then the biases; ``c`` normalised before the
output tanh. The step timed is compare.py's training step without an
optimiser: forward over a (T, B, I) float32 input that needs no gradient,
backward from a seed of ones on the output to every weight.

For scale, numrnn's plain LSTM of the same size runs too (the option's cost).
Each library runs in its own child interpreter with its default threads, so
neither one's thread pools or allocator caches touch the other's timings
(DESIGN.md). Sizes are compare.py's (B, T, I, H).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# "numrnn-plain" is numrnn's LSTM without layer_norm at the same size: the cost of the option.
LIBRARIES = ("numrnn", "numrnn-plain", "torch")
# compare.py's sizes, (B, T, I, H); copied rather than imported: compare imports numrnn,
# which the torch child must not load.
CONFIGS = {"small": (32, 50, 64, 128), "medium": (64, 100, 256, 256)}
# The bound on numrnn's time over PyTorch's.
TARGET_RATIO = 0.2


def numrnn_step(shape, layer_norm=True):
    import numpy as np

    import numrnn

    batch, steps, n_in, hidden = shape
    layer = numrnn.nn.LSTM(n_in, hidden, layer_norm=layer_norm, rng=0)
    x = numrnn.Tensor(np.random.default_rng(1).standard_normal((steps, batch, n_in))
                      .astype(np.float32))
    seed = np.ones((steps, batch, hidden), dtype=np.float32)

    def step():
        for parameter in layer.parameters():
            parameter.grad = None
        layer(x)[0].backward(seed)

    return step


def torch_layer_norm_lstm(input_size, hidden_size):
    """The layer-normalised LSTM as PyTorch users write it (an ``nn.Module``).

    :func:`load_numrnn_weights` gives it a numrnn ``LSTM(layer_norm=True)``'s
    weights, after which both compute the same.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    class LayerNormLSTM(nn.Module):
        """The layer-normalised LSTM as users write it: a cell and a loop over steps."""

        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.input_product = nn.Linear(input_size, 4 * hidden_size, bias=False)
            self.hidden_product = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
            self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
            self.input_gain = nn.Parameter(torch.ones(4 * hidden_size))
            self.input_shift = nn.Parameter(torch.zeros(4 * hidden_size))
            self.hidden_gain = nn.Parameter(torch.ones(4 * hidden_size))
            self.hidden_shift = nn.Parameter(torch.zeros(4 * hidden_size))
            self.cell_norm = nn.LayerNorm(hidden_size)

        def normalised(self, values, gain, shift):
            blocks = values.view(values.shape[0], 4, self.hidden_size)
            return F.layer_norm(blocks, (self.hidden_size,)).view_as(values) * gain + shift

        def forward(self, x):
            batch = x.shape[1]
            h = x.new_zeros(batch, self.hidden_size)
            c = x.new_zeros(batch, self.hidden_size)
            # The input products of all steps at once, as a careful user would.
            inputs = self.input_product(x)
            outputs = []
            for t in range(x.shape[0]):
                gates = (self.normalised(inputs[t], self.input_gain, self.input_shift)
                         + self.normalised(self.hidden_product(h), self.hidden_gain,
                                           self.hidden_shift)
                         + self.bias)
                i, f, g, o = gates.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(self.cell_norm(c))
                outputs.append(h)
            return torch.stack(outputs)

    return LayerNormLSTM(input_size, hidden_size)


def load_numrnn_weights(layer, weights):
    """Copy a one-layer numrnn ``LSTM(layer_norm=True)``'s weights (``{name: ndarray}``)
    into ``layer``, a :func:`torch_layer_norm_lstm`, in the dtype of its parameters
    (float32, or float64 after ``layer.double()``); numrnn's two biases become its one,
    added in that dtype."""
    import torch

    dtype = str(next(layer.parameters()).dtype).removeprefix("torch.")
    weights = {name: value.astype(dtype) for name, value in weights.items()}

    sources = {"input_product.weight": weights["weight_ih_l0"],
               "hidden_product.weight": weights["weight_hh_l0"],
               "bias": weights["bias_ih_l0"] + weights["bias_hh_l0"],
               "input_gain": weights["ln_ih_weight_l0"], "input_shift": weights["ln_ih_bias_l0"],
               "hidden_gain": weights["ln_hh_weight_l0"],
               "hidden_shift": weights["ln_hh_bias_l0"],
               "cell_norm.weight": weights["ln_cell_weight_l0"],
               "cell_norm.bias": weights["ln_cell_bias_l0"]}
    layer.load_state_dict({name: torch.from_numpy(value) for name, value in sources.items()})


def torch_step(shape):
    import torch

    batch, steps, n_in, hidden = shape
    torch.manual_seed(0)
    layer = torch_layer_norm_lstm(n_in, hidden)
    x = torch.randn(steps, batch, n_in)
    seed = torch.ones(steps, batch, hidden)

    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).backward(seed)

    return step


def measure(library, config, budget):
    """Run in the child: the step's timings after its first call and warm-up."""
    makers = {"numrnn": numrnn_step, "numrnn-plain": lambda shape: numrnn_step(shape, False),
              "torch": torch_step}
    step = makers[library](CONFIGS[config])
    return harness.interleaved({library: step}, budget)[library]


def run_child(library, config, budget):
    command = [sys.executable, os.path.abspath(__file__), "--child", library, "--configs",
               config, "--budget", str(budget)]
    return harness.child_json(command, f"{library} child")


def markdown(report):
    lines = [f"Layer-normalised LSTM, forward + backward, float32 ({report['cpu']}); "
             f"target numrnn / torch <= {TARGET_RATIO}", "",
             "| config (B, T, I, H) | numrnn ms | torch ms | numrnn / torch | numrnn plain "
             "LSTM ms | layer_norm / plain |", "|---|---|---|---|---|---|"]
    for config, row in report["rows"].items():
        lines.append(f"| {config} {CONFIGS[config]} | {row['numrnn']['median_ms']:.1f} | "
                     f"{row['torch']['median_ms']:.1f} | {row['ratio']:.3f} | "
                     f"{row['numrnn-plain']['median_ms']:.1f} | {row['over_plain']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,medium",
                        help="comma-separated subset of " + ",".join(CONFIGS))
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of timed rounds per library and config")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--child", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown config {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    harness.set_thread_env(None)
    if args.child:
        print(json.dumps(measure(args.child, configs[0], args.budget)))
        return
    report = {"cpu": harness.cpu_model(), "git": harness.git_state(), "rows": {}}
    for config in configs:
        row = {library: run_child(library, config, args.budget) for library in LIBRARIES}
        row["ratio"] = row["numrnn"]["median_ms"] / row["torch"]["median_ms"]
        row["over_plain"] = row["numrnn"]["median_ms"] / row["numrnn-plain"]["median_ms"]
        report["rows"][config] = row
    print(markdown(report))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
