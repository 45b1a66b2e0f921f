"""Adam's update in place through work arrays the optimizer keeps: the bits of the operator
formula it replaced, and no parameter-sized temporaries (each a fresh allocation, every
parameter, every step). Clipping's norm on one BLAS thread: the same bits whatever
OpenBLAS's thread count, and no OpenBLAS threads woken to spin through the next step."""

import math
import tracemalloc

import numpy as np
import pytest

import numrnn
from numrnn.kernels import blas_threads
from numrnn.optim import Adam, AdamW, clip_grad_norm_, get_total_norm

SHAPES = [(256, 64), (256,), (3, 5), (1,)]
OPTIONS = [
    (Adam, {}),
    (Adam, {"weight_decay": 0.1}),
    (Adam, {"weight_decay": 0.01, "amsgrad": True}),
    (AdamW, {}),
    (AdamW, {"amsgrad": True}),
]


def operator_formula(data, grad, state, lr, betas, eps, weight_decay, amsgrad, decoupled):
    """One step of the update as written with operators before (fresh temporaries)."""
    beta1, beta2 = betas
    state["step"] += 1
    step = state["step"]
    if weight_decay != 0:
        if decoupled:
            data *= 1.0 - lr * weight_decay
        else:
            grad = grad + weight_decay * data
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg *= beta1
    exp_avg += (1.0 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * grad * grad
    second_moment = exp_avg_sq
    if amsgrad:
        if "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = exp_avg_sq.copy()
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        second_moment = state["max_exp_avg_sq"]
    step_size = lr / (1.0 - beta1**step)
    denominator = np.sqrt(second_moment) / math.sqrt(1.0 - beta2**step)
    denominator += eps
    data -= step_size * (exp_avg / denominator)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "options"), OPTIONS)
def test_adam_gives_the_bits_of_the_operator_formula(cls, options, dtype):
    rng = np.random.default_rng(0)
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    params = [numrnn.Tensor(value.copy(), requires_grad=True) for value in initial]
    optimizer = cls(params, lr=1e-2, **options)
    group = optimizer.param_groups[0]
    expected = [value.copy() for value in initial]
    states = [{"step": 0, "exp_avg": np.zeros_like(value), "exp_avg_sq": np.zeros_like(value)}
              for value in initial]
    for _ in range(4):
        grads = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
        for param, grad in zip(params, grads):
            param.grad = grad.copy()
        optimizer.step()
        for data, grad, state in zip(expected, grads, states):
            operator_formula(data, grad, state, group["lr"], group["betas"], group["eps"],
                             group["weight_decay"], group["amsgrad"], cls is AdamW)
        for param, grad, data in zip(params, grads, expected):
            # Same bits, and the gradient is left as it was.
            assert param.data.dtype == dtype
            np.testing.assert_array_equal(param.data, data)
            np.testing.assert_array_equal(param.grad, grad)
    # The work arrays are no state: state_dict holds what it held before.
    saved = optimizer.state_dict()["state"][0]
    assert set(saved) == {"step", "exp_avg", "exp_avg_sq"} | (
        {"max_exp_avg_sq"} if options.get("amsgrad") else set())


@pytest.mark.parametrize(("cls", "options"), OPTIONS)
def test_a_warm_adam_step_allocates_no_parameter_sized_array(cls, options):
    rng = np.random.default_rng(1)
    params = [numrnn.Tensor(rng.standard_normal(size).astype(np.float32), requires_grad=True)
              for size in (1 << 18, 1000)]
    for param in params:
        param.grad = rng.standard_normal(param.shape).astype(np.float32)
    optimizer = cls(params, lr=1e-3, **options)
    optimizer.step()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        optimizer.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy reports its arrays' memory to tracemalloc: one temporary of the large
    # parameter would be 1 MB.
    assert peak < params[0].data.nbytes // 8


@pytest.mark.skipif(blas_threads.get("numpy") is None,
                    reason="NumPy's OpenBLAS thread count is not under control")
def test_the_clipping_norm_is_the_same_for_any_blas_thread_count():
    # Past 10000 elements OpenBLAS splits a dot product over its threads.
    grad = np.random.default_rng(2).standard_normal(100_000).astype(np.float32)
    before = blas_threads.get("numpy")
    norms = []
    try:
        for threads in (1, 2):
            blas_threads.set("numpy", threads)
            norms.append(get_total_norm([grad]))
            param = numrnn.Tensor(np.zeros_like(grad), requires_grad=True)
            param.grad = grad.copy()
            norms.append(clip_grad_norm_([param], 1.0))
            # The count asked for is back once the norm is taken.
            assert blas_threads.get("numpy") == threads
    finally:
        blas_threads.set("numpy", before)
    assert norms[0] == norms[1] == norms[2] == norms[3]
