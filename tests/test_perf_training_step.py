"""perf/adding_step.py's two training steps compute the same thing (nothing here is timed).

perf/training_step.py times the adding problem's whole step (LSTM, Linear head,
MSE, Adam, clipping) in numrnn and PyTorch and gives a ratio only when both,
from the same initial weights, agree after a step. This checks that premise
in-process: the numrnn model is examples/adding_problem.py's, its weights load
into the PyTorch twin under the same names, and two steps give the same
losses and clipped gradient in both; the timed step really updates the model.
"""

import importlib.util

import numpy as np
import pytest
from repo_scripts import load_script

from numrnn.data import adding_problem

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="torch is not installed")


@pytest.fixture(scope="module")
def adding_step():
    return load_script("perf/adding_step.py")


@pytest.fixture(scope="module")
def problem(adding_step):
    model = adding_step.numrnn_model(adding_step.SHAPE[3])
    weights = {name: np.array(value.data) for name, value in model.named_parameters()}
    batch, steps, _, _ = adding_step.SHAPE
    x, y = adding_problem(batch, steps, rng=1)
    return weights, x, y


def test_the_model_is_the_examples_lstm_at_issue_21s_shape(adding_step, problem):
    weights, x, y = problem
    assert adding_step.SHAPE == (64, 100, 2, 64)
    assert x.shape == (100, 64, 2) and y.shape == (64, 1)
    assert weights["rnn.weight_hh_l0"].shape == (4 * 64, 64)
    assert weights["head.weight"].shape == (1, 64)
    # forget_bias=1.0, as the example builds it: the forget block of the biases sums to 1.
    forget = slice(64, 128)
    np.testing.assert_allclose(weights["rnn.bias_ih_l0"][forget]
                               + weights["rnn.bias_hh_l0"][forget], 1.0, atol=1e-6)


def test_numrnn_and_torch_agree_after_a_step(adding_step, problem):
    weights, x, y = problem
    _, numrnn_result = adding_step.numrnn_runners(weights, x, y)
    _, torch_result = adding_step.torch_runners(weights, x, y, threads=None)
    numrnn_losses, numrnn_grad = numrnn_result()
    torch_losses, torch_grad = torch_result()
    assert numrnn_losses[0] != numrnn_losses[1], "the first step changed nothing"
    np.testing.assert_allclose(numrnn_losses, torch_losses, atol=1e-4)
    scale = np.max(np.abs(torch_grad))
    assert np.max(np.abs(numrnn_grad - torch_grad)) / scale <= 1e-3


def test_the_timed_step_updates_the_weights(adding_step, problem):
    weights, x, y = problem
    step, _ = adding_step.numrnn_runners(weights, x, y)
    first, second = step().item(), step().item()
    assert second != first
