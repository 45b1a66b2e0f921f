"""The adding problem's whole training step in numrnn and in PyTorch (``perf/training_step.py``).

The model is the LSTM of ``examples/adding_problem.py`` (its ``Regressor``,
loaded from the example itself): ``nn.LSTM(2, H, forget_bias=1.0)`` and a
``Linear(H, 1)`` read-out of the last hidden state, trained on the MSE against
the target with Adam (the example's LSTM rate, 1e-2) and gradient-norm
clipping to 1.0. A step is what the example's loop does once the batch is
drawn: zero the gradients, forward, loss, backward, clip, Adam's update. The
PyTorch twin is the same model written with ``torch.nn`` and
``torch.optim.Adam``, given the same initial weights.

Run by ``perf/compare_child.py``, not by hand: the builders take the weights as
plain arrays and import their library only when called, so each library's
process imports that library and NumPy only. numrnn's parameter names
(``rnn.weight_ih_l0``, ``head.weight``...) are PyTorch's, so one weight file
serves both.
"""

import importlib.util
import os

# Issue 21's shape: (B, T, I, H); I is the example's (value, marker) pair.
SHAPE = (64, 100, 2, 64)
LEARNING_RATE = 1e-2
MAX_NORM = 1.0
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "adding_problem.py")


def example_module():
    """``examples/adding_problem.py`` as a module (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("adding_problem_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numrnn_model(hidden, rng=0):
    """The example's LSTM regressor with seeded initial weights."""
    return example_module().Regressor("LSTM", hidden, rng=rng)


def numrnn_runners(weights, x, y):
    """``(step, result)`` for numrnn: one timed training step, and what a fresh copy computes.

    ``result()`` trains a fresh copy of the model, from ``weights``, for two
    steps and returns ``(losses of steps 1 and 2, clipped d rnn.weight_hh_l0 of
    step 2)``: the second loss and gradient depend on the first update.
    """
    import numpy as np

    from numrnn import functional as F
    from numrnn.optim import Adam, clip_grad_norm_

    def fresh():
        model = numrnn_model(SHAPE[3])
        model.load_state_dict(weights)
        params = list(model.parameters())
        optimizer = Adam(params, lr=LEARNING_RATE)

        def step():
            model.train()
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            clip_grad_norm_(params, MAX_NORM)
            optimizer.step()
            return loss

        return model, step

    _, timed_step = fresh()

    def result():
        model, step = fresh()
        losses = [step().item() for _ in range(2)]
        return np.array(losses, dtype=np.float64), np.array(model.rnn.weight_hh_l0.grad)

    return timed_step, result


def torch_runners(weights, x, y, threads):
    """``(step, result)`` for the PyTorch twin, as :func:`numrnn_runners` describes."""
    import numpy as np
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    class Regressor(torch.nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.rnn = torch.nn.LSTM(SHAPE[2], hidden)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, sequence):
            output, _ = self.rnn(sequence)
            return self.head(output[-1])

    def fresh():
        model = Regressor(SHAPE[3])
        model.load_state_dict({name: torch.from_numpy(np.array(value))
                               for name, value in weights.items()})
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

        def step():
            model.train()
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
            optimizer.step()
            return loss

        return model, step

    _, timed_step = fresh()

    def result():
        model, step = fresh()
        losses = [step().item() for _ in range(2)]
        return np.array(losses, dtype=np.float64), model.rnn.weight_hh_l0.grad.numpy().copy()

    return timed_step, result


def runners(library, weights, data, threads):
    """``(infer, train, infer_output, result)`` as compare_child.py expects (training only)."""
    if library == "numrnn-adding-step":
        step, result = numrnn_runners(weights, data["x"], data["y"])
    else:
        step, result = torch_runners(weights, data["x"], data["y"], threads)
    return None, step, None, result
