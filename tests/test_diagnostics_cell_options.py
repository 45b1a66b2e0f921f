"""hidden_gradient_norms of the cell options: the projected LSTM, whose h has proj_size
features and whose recurrence goes through W_hr, and the other options' cells."""

import numpy as np
import pytest

from numrnn import ShapeError, nn
from numrnn import functional as F
from numrnn.diagnostics import hidden_gradient_norms
from tests.test_diagnostics import finite_difference_norms, weighted_sum

OPTIONS = [(nn.LSTM, {"proj_size": 2}), (nn.LSTM, {"layer_norm": True}),
           (nn.GRU, {"layer_norm": True}), (nn.GRU, {"reset_after": False})]


@pytest.mark.parametrize("layer_class, options", OPTIONS,
                         ids=[f"{cls.__name__}-{next(iter(o))}" for cls, o in OPTIONS])
def test_norms_match_finite_differences(layer_class, options):
    rng = np.random.default_rng(0)
    layer = layer_class(3, 4, dtype=np.float64, rng=0, **options)
    x = rng.standard_normal((5, 2, 3))
    width = options.get("proj_size", 4)
    weights = rng.standard_normal((5, 2, width))

    def loss(output):
        return F.sum(F.tanh(output) * weights)

    norms = hidden_gradient_norms(layer, x, loss)
    assert norms.shape == (1, 5)
    np.testing.assert_allclose(norms[0], finite_difference_norms(layer, x, loss), rtol=1e-6)


def test_a_projected_lstms_initial_state_is_h_of_proj_size_and_c_of_hidden_size():
    rng = np.random.default_rng(1)
    layer = nn.LSTM(3, 4, proj_size=2, dtype=np.float64, rng=1)
    x = rng.standard_normal((4, 2, 3))
    hx = (rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 2, 4)))
    weights = rng.standard_normal((4, 2, 2))

    def loss(output):
        return F.sum(F.tanh(output) * weights)

    norms = hidden_gradient_norms(layer, x, loss, hx=hx, per_row=True)
    assert norms.shape == (1, 4, 2)


    def started(inputs, state=None):
        # The finite differences run each head from the same initial state.
        return layer(inputs, hx if state is None else state)

    np.testing.assert_allclose(np.linalg.norm(norms[0], axis=1),
                               finite_difference_norms(started, x, loss), rtol=1e-6)
    with pytest.raises(ShapeError, match=r"the initial c must be \(1, 2, 4\) float64, "
                                         r"got \(1, 2, 2\)"):
        hidden_gradient_norms(layer, x, loss, hx=(hx[0], hx[0]))


def test_top_layer_of_a_projected_bidirectional_stack_equals_a_layer_on_the_lower_output():
    rng = np.random.default_rng(2)
    stacked = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2,
                      dtype=np.float64, rng=2)
    x = rng.standard_normal((5, 2, 3))
    weights = rng.standard_normal((5, 2, 4))
    norms = hidden_gradient_norms(stacked, x, weighted_sum(weights))
    assert norms.shape == (4, 5) and (norms > 0).all()

    bottom = nn.LSTM(3, 4, bidirectional=True, proj_size=2, dtype=np.float64, rng=0)
    top = nn.LSTM(4, 4, bidirectional=True, proj_size=2, dtype=np.float64, rng=0)
    state = stacked.state_dict()
    bottom.load_state_dict({name: value for name, value in state.items() if "_l0" in name})
    top.load_state_dict({name.replace("_l1", "_l0"): value for name, value in state.items()
                         if "_l1" in name})
    lower_output, _ = bottom(x)
    top_norms = hidden_gradient_norms(top, lower_output.data, weighted_sum(weights))
    np.testing.assert_allclose(norms[2:], top_norms, rtol=1e-10)
