"""Unary elementwise ops: forward against NumPy, gradient against central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

# name -> (op, numpy reference, input bounds, kink to keep away from)
UNARY = {
    "exp": (F.exp, np.exp, (-3, 3), None),
    "log": (F.log, np.log, (0.1, 3), None),
    "sqrt": (F.sqrt, np.sqrt, (0.1, 3), None),
    "abs": (F.abs, np.abs, (-3, 3), 0.0),
    "tanh": (F.tanh, np.tanh, (-3, 3), None),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-3, 3), None),
    "relu": (F.relu, lambda x: np.maximum(x, 0), (-3, 3), 0.0),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                   (-3, 3), 0.0),
    "clip": (lambda x: F.clip(x, -1.0, 2.0), lambda x: np.clip(x, -1.0, 2.0), (-3, 3), None),
}


def _unary_input(name, dtype=np.float64):
    _, _, (low, high), kink = UNARY[name]
    return S.shapes().flatmap(
        lambda shape: S.float_arrays(shape, dtype, low, high, exclude_near=kink, margin=1e-2)
    )


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    op, reference, _, _ = UNARY[name]
    x = data.draw(_unary_input(name))
    np.testing.assert_allclose(op(numrnn.tensor(x)).data, reference(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    op, _, _, _ = UNARY[name]
    x = data.draw(_unary_input(name))
    if name == "clip":
        # keep away from the clamp boundaries, where the derivative jumps
        x = np.where(np.abs(x + 1.0) < 1e-2, x + 0.05, x)
        x = np.where(np.abs(x - 2.0) < 1e-2, x + 0.05, x)
    gradcheck(op, [x])


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_float32_agrees_with_float64(name, data):
    op, _, _, _ = UNARY[name]
    x32 = data.draw(_unary_input(name, np.float32))
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    y32, y64 = op(t32), op(t64)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-6)
    y32.backward(np.ones_like(y32.data))
    y64.backward(np.ones_like(y64.data))
    assert t32.grad.dtype == np.float32
    np.testing.assert_allclose(t32.grad, t64.grad, rtol=1e-4, atol=1e-5)


def test_sigmoid_is_finite_and_exact_at_extremes():
    x = numrnn.tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), requires_grad=True)
    y = F.sigmoid(x)
    assert np.all(np.isfinite(y.data))
    np.testing.assert_allclose(y.data, [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0], rtol=1e-12)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))
