"""The tape and the engine: accumulation, no_grad, freed graphs, threads, the op contract."""

import sys
import threading

import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn.autograd import Function


def _leaf(values, dtype=np.float64):
    return numrnn.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- accumulation ------------------------------------------------------------------

def test_fan_out_sums_both_contributions():
    x = _leaf([1.0, -2.0, 3.0])
    y = x * x + F.tanh(x)  # x reaches the output along three paths
    y.backward(np.ones(3))
    np.testing.assert_allclose(x.grad, 2 * x.data + 1 - np.tanh(x.data) ** 2, rtol=1e-15)


def test_same_tensor_as_both_operands():
    x = _leaf([3.0])
    (x * x).backward(np.ones(1))
    np.testing.assert_array_equal(x.grad, [6.0])


def test_intermediate_used_twice_gets_both_contributions():
    x = _leaf([0.5, 2.0])
    h = F.exp(x)
    y = h * 3.0 + h * h
    y.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, 3 * np.exp(x.data) + 2 * np.exp(2 * x.data), rtol=1e-14)


def test_leaf_grad_accumulates_across_backward_calls():
    x = _leaf([1.0, 2.0])
    (x * 2.0).backward(np.ones(2))
    (x * 5.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])


def test_unused_output_of_a_multi_output_op_gets_zero_gradient():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, grad_double, grad_triple):
            return grad_double * 2 + grad_triple * 3

    x = _leaf([1.0, 1.0])
    double, _ = Split.apply(x)
    double.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_inputs_without_requires_grad_get_no_gradient():
    x = _leaf([1.0, 2.0])
    constant = numrnn.tensor([3.0, 4.0], dtype=np.float64)
    (x * constant).backward(np.ones(2))
    assert constant.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# -- no_grad -------------------------------------------------------------------------

def _assert_not_recorded(t):
    assert not t.requires_grad
    assert t._node is None
    assert t.is_leaf


def test_no_grad_context_records_nothing():
    x = _leaf([1.0, 2.0])
    with numrnn.no_grad():
        assert not numrnn.is_grad_enabled()
        y = F.tanh(x * 2.0 + 1.0)
    assert numrnn.is_grad_enabled()
    _assert_not_recorded(y)
    with pytest.raises(numrnn.GradError, match="needs a tensor that requires grad"):
        y.backward(np.ones(2))


def test_no_grad_decorator_records_nothing_and_restores_state():
    @numrnn.no_grad()
    def infer(t):
        assert not numrnn.is_grad_enabled()
        return F.exp(t) * t

    y = infer(_leaf([1.0]))
    _assert_not_recorded(y)
    assert numrnn.is_grad_enabled()
    assert infer.__name__ == "infer"


def test_no_grad_restores_state_after_an_exception_and_nests():
    with pytest.raises(KeyError):
        with numrnn.no_grad():
            raise KeyError("inference failed")
    assert numrnn.is_grad_enabled()
    x = _leaf([1.0])
    with numrnn.no_grad():
        with numrnn.enable_grad():
            recorded = x * 2.0
        with numrnn.no_grad():
            pass
        assert not numrnn.is_grad_enabled()
    assert recorded.requires_grad and recorded._node is not None


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def inference_thread():
        with numrnn.no_grad():
            entered.set()
            checked.wait(timeout=10)
            seen["inference"] = (x * 2.0).requires_grad

    x = _leaf([1.0, 2.0])
    worker = threading.Thread(target=inference_thread)
    worker.start()
    assert entered.wait(timeout=10)
    y = x * 3.0  # main thread, while the worker sits inside no_grad
    seen["main"] = numrnn.is_grad_enabled() and y.requires_grad and y._node is not None
    checked.set()
    worker.join(timeout=10)
    assert seen == {"inference": False, "main": True}


# -- freed graphs and seeds ---------------------------------------------------------

def test_second_backward_without_retain_graph_raises_naming_the_op():
    x = _leaf([0.5, 1.5])
    y = F.tanh(x)
    y.backward(np.ones(2))
    assert y._node.ctx.saved is None  # residuals are released after backward
    with pytest.raises(numrnn.GradError,
                       match=r"backward through Tanh a second time.*retain_graph=True"):
        y.backward(np.ones(2))


def test_retain_graph_allows_a_second_backward_that_accumulates_again():
    x = _leaf([0.5, 1.5])
    y = F.tanh(x) * x
    y.backward(np.ones(2), retain_graph=True)
    once = x.grad.copy()
    y.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, 2 * once, rtol=1e-15)
    with pytest.raises(numrnn.GradError, match="a second time"):
        y.backward(np.ones(2))


def test_non_scalar_output_needs_an_explicit_grad():
    y = F.exp(_leaf([1.0, 2.0, 3.0]))
    with pytest.raises(numrnn.GradError, match=r"non-scalar output of shape \(3,\) needs an "
                                               "explicit grad"):
        y.backward()


def test_one_element_output_is_seeded_with_one():
    x = _leaf([[2.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[4.0]])


def test_seed_with_wrong_shape_or_dtype_is_refused():
    y = F.exp(_leaf([1.0, 2.0]))
    with pytest.raises(numrnn.ShapeError, match=r"grad must have shape \(2,\), got \(3,\)"):
        y.backward(np.ones(3), retain_graph=True)
    with pytest.raises(numrnn.DTypeError, match="grad must have dtype float64, got float32"):
        y.backward(np.ones(2, np.float32))


# -- threads -----------------------------------------------------------------------

def _problem(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)


def _gradients(x, w, b):
    """Gradients of a small two-layer graph with fan-out, from fresh leaves."""
    x, w, b = (numrnn.tensor(a, requires_grad=True) for a in (x, w, b))
    hidden = F.tanh(x @ w + b)
    out = hidden * hidden + F.sigmoid(hidden) * b
    out.backward(np.ones(out.shape))
    return x.grad, w.grad, b.grad


def test_threads_backpropagating_at_once_get_their_solo_gradients_bitwise():
    problems = [_problem(seed) for seed in (1, 2)]
    expected = [_gradients(*p) for p in problems]
    barrier = threading.Barrier(2)
    mismatches, errors = [], []

    def worker(index):
        try:
            barrier.wait(timeout=10)
            for _ in range(300):
                got = _gradients(*problems[index])
                if not all(np.array_equal(g, e) for g, e in zip(got, expected[index])):
                    mismatches.append(index)
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    # A tiny switch interval makes the interpreter hop between the two threads
    # every few bytecodes, so their graphs really are built and walked interleaved.
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        sys.setswitchinterval(previous_interval)
    assert errors == []
    assert mismatches == []


# -- the op contract: Function checks what backward returns --------------------------

class TooFewGradients(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a * b

    @staticmethod
    def backward(ctx, grad):
        return grad


class WrongShapeGradient(Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, grad):
        return grad.sum(keepdims=True)


class WrongDtypeGradient(Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, grad):
        return (grad * 2).astype(np.float32)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x: TooFewGradients.apply(x, x),
         r"TooFewGradients\.backward must return 2 gradient\(s\), one per input, got 1"),
        (lambda x: WrongShapeGradient.apply(x),
         r"WrongShapeGradient\.backward: gradient for input 0 must have shape \(3,\), got \(1,\)"),
        (lambda x: WrongDtypeGradient.apply(x),
         r"WrongDtypeGradient\.backward: gradient for input 0 must have dtype float64, "
         r"got float32"),
    ],
)
def test_function_rejects_a_wrong_backward_naming_the_op(build, message):
    x = _leaf([1.0, 2.0, 3.0])
    y = build(x)
    with pytest.raises(numrnn.GradError, match=message):
        y.backward(np.ones(3))
    assert x.grad is None


def test_function_subclass_must_define_forward_and_backward():
    with pytest.raises(TypeError, match="NoBackward must define a static backward"):
        class NoBackward(Function):
            @staticmethod
            def forward(ctx, x):
                return x


def test_function_refuses_mixed_float_inputs():
    with pytest.raises(numrnn.DTypeError, match="TooFewGradients: all floating inputs must "
                                                "share one dtype, got float32 and float64"):
        TooFewGradients.apply(_leaf([1.0]), _leaf([1.0], np.float32))


def test_graph_continued_in_another_thread_backpropagates():
    x = numrnn.tensor(np.array([1.5, -0.5]), requires_grad=True)
    h = x * 2.0 * 3.0
    result = {}

    def continue_and_backward():
        y = (h * h).sum()
        y.backward()
        result["grad"] = x.grad

    worker = threading.Thread(target=continue_and_backward)
    worker.start()
    worker.join()
    np.testing.assert_allclose(result["grad"], 72.0 * x.data)


def test_zero_dimensional_results_stay_ndarrays():
    y = numrnn.tensor(2.0) * 3.0
    assert isinstance(y.data, np.ndarray) and y.data.shape == ()
