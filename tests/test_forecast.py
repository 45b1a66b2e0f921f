"""forecast: teacher-forced warm-up on the history, then each prediction fed back as input."""

import numpy as np
import pytest

from numrnn import ArgumentError, ArgumentTypeError, DTypeError, ShapeError, nn
from numrnn.generate import forecast


class Decay:
    """A plain callable: predicts ``0.9 * x`` and counts the steps it was fed."""

    def __init__(self):
        self.lengths = []

    def __call__(self, inputs, state):
        self.lengths.append(len(inputs))
        seen = (0 if state is None else state) + len(inputs)
        return 0.9 * inputs, seen


def test_a_plain_callable_is_warmed_up_on_the_history_then_fed_its_predictions():
    model = Decay()
    history = np.array([[1.0, -2.0], [2.0, 4.0], [3.0, 8.0]])
    predictions, state = forecast(model, history, 4, return_state=True)
    expected = np.array([0.9 ** (k + 1) * history[-1] for k in range(4)])
    np.testing.assert_allclose(predictions, expected)
    assert predictions.shape == (4, 2) and predictions.dtype == np.float64
    assert model.lengths == [3, 1, 1, 1], "the history once, then one step per prediction"
    assert state == 6, "the state after the history and every prediction but the last"


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(2, 8, num_layers=2, dropout=0.5, rng=0)
        self.head = nn.Linear(8, 2, rng=1)

    def forward(self, inputs, state=None):
        hidden, state = self.lstm(inputs, state)
        return self.head(hidden), state


def test_a_module_forecast_equals_rerunning_the_whole_sequence_in_eval_mode():
    model = Forecaster()
    history = np.random.default_rng(0).standard_normal((6, 3, 2)).astype(np.float32)
    predictions = forecast(model, history, 5)
    assert model.training and model.lstm.training, "training mode comes back"
    assert predictions.shape == (5, 3, 2) and predictions.dtype == np.float32

    model.eval()
    sequence = np.concatenate([history, predictions[:-1]])
    outputs, _ = model(sequence)
    np.testing.assert_allclose(predictions, outputs.data[len(history) - 1:], rtol=1e-5,
                               atol=1e-6)


def test_bad_arguments_are_refused():
    model = Decay()
    with pytest.raises(DTypeError, match="history must be float32 or float64, got dtype int64"):
        forecast(model, np.zeros((3, 1), dtype=np.int64), 2)
    with pytest.raises(ShapeError, match=r"\(T, F\) or \(T, B, F\) with T >= 1, got shape \(3,\)"):
        forecast(model, np.zeros(3), 2)
    with pytest.raises(ShapeError, match=r"got shape \(0, 1\)"):
        forecast(model, np.zeros((0, 1)), 2)
    with pytest.raises(ArgumentError, match="horizon must be an int >= 0, got -1"):
        forecast(model, np.zeros((3, 1)), -1)
    with pytest.raises(ArgumentTypeError, match="model must be callable"):
        forecast("model", np.zeros((3, 1)), 2)
    with pytest.raises(ShapeError, match=r"outputs of the inputs' shape \(T, B, F\) = "
                                         r"\(3, 1, 1\).*got shape \(3, 1, 4\)"):
        forecast(lambda x, s: (np.zeros(x.shape[:2] + (4,)), s), np.zeros((3, 1)), 2)
    with pytest.raises(ShapeError, match=r"must return \(outputs, state\), got ndarray"):
        forecast(lambda x, s: x, np.zeros((3, 1)), 2)
