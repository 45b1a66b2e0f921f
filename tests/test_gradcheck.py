"""gradcheck itself: it must pass correct rules and catch wrong ones on both of its paths."""

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn.autograd import Function
from numrnn.testing import gradcheck
from numrnn.testing.gradcheck import FULL_JACOBIAN_LIMIT


class ScaledWrong(Function):
    """sin(x), with a backward that is off by a factor of 1.5."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return 1.5 * grad * np.cos(x)


class OneEntryWrong(Function):
    """sin(x), with a backward wrong in the first element only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        result = grad * np.cos(x)
        result.flat[0] += 0.25 * grad.flat[0]
        return result


class ForgetsSecondInput(Function):
    """a * b, with a backward that gives b no gradient although it needs one."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        (b,) = ctx.saved
        return grad * b, None


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * np.cos(x)


def _small():
    return np.random.default_rng(0).uniform(-2, 2, (3, 4))


def _large():
    # 100 inputs x 100 outputs is past FULL_JACOBIAN_LIMIT: the directional path runs.
    x = np.random.default_rng(1).uniform(-2, 2, (10, 10))
    assert x.size * x.size > FULL_JACOBIAN_LIMIT
    return x


@pytest.mark.parametrize("make_input", [_small, _large])
def test_passes_a_correct_rule_on_both_paths(make_input):
    assert gradcheck(Sin.apply, [make_input()]) is True
    assert gradcheck(lambda a, b: F.tanh(a) * b, [make_input(), make_input()]) is True


def test_full_jacobian_path_catches_a_scaled_backward_and_names_the_entry():
    with pytest.raises(numrnn.GradError,
                       match=r"d\(output 0\[\d+, \d+\]\)/d\(input 0\[\d+, \d+\]\) is .* by "
                             r"backward but .* by central differences \(worst mismatch\)"):
        gradcheck(ScaledWrong.apply, [_small()])


def test_full_jacobian_path_catches_a_single_wrong_entry():
    with pytest.raises(numrnn.GradError, match=r"d\(output 0\[0, 0\]\)/d\(input 0\[0, 0\]\)"):
        gradcheck(OneEntryWrong.apply, [_small()])


def test_directional_path_catches_a_scaled_backward():
    with pytest.raises(numrnn.GradError, match=r"directional derivative v\^T J u \(trial 0\)"):
        gradcheck(ScaledWrong.apply, [_large()])


def test_directional_path_catches_a_single_wrong_entry():
    with pytest.raises(numrnn.GradError, match="directional derivative"):
        gradcheck(OneEntryWrong.apply, [_large()], directions=8)


@pytest.mark.parametrize("limit", [FULL_JACOBIAN_LIMIT, 0])
def test_a_missing_gradient_for_one_input_is_caught(limit):
    a, b = _small(), _small() + 3.0
    with pytest.raises(numrnn.GradError):
        gradcheck(ForgetsSecondInput.apply, [a, b], full_jacobian_limit=limit)


def test_non_float_inputs_pass_through_unchanged():
    indices = np.array([2, 0, 2])
    weight = _small()
    assert gradcheck(lambda w, i: F.embedding(w, i), [weight, indices])


def test_multiple_outputs_are_all_checked():
    class TwoOutputsSecondWrong(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save(x)
            return x * 2, x * x

        @staticmethod
        def backward(ctx, grad_double, grad_square):
            (x,) = ctx.saved
            return grad_double * 2 + grad_square * x  # should be 2 * x

    with pytest.raises(numrnn.GradError, match=r"d\(output 1"):
        gradcheck(TwoOutputsSecondWrong.apply, [_small()])


def test_refuses_float32_and_inputs_with_nothing_to_differentiate():
    with pytest.raises(numrnn.DTypeError, match="gradcheck: input 0 must be float64, got float32"):
        gradcheck(Sin.apply, [_small().astype(np.float32)])
    with pytest.raises(numrnn.GradError, match="no float64 input to differentiate"):
        gradcheck(lambda i: F.exp(numrnn.tensor(i, dtype=np.float64)), [np.array([1, 2])])


def test_tensor_inputs_are_differentiated_only_when_they_require_grad():
    frozen = numrnn.tensor(_small())
    # Only the first input is checked; a wrong rule on the frozen one cannot be seen.
    assert gradcheck(lambda a, b: F.tanh(a) * b,
                     [numrnn.tensor(_small(), requires_grad=True), frozen])
