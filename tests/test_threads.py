"""numrnn.set_num_threads: one knob for numba and both BLAS pools, results bit-identical."""


import functools
import threading

import numba
import numpy as np
import pytest

import numrnn
from numrnn import functional as F
from numrnn.kernels import blas_threads
from numrnn.kernels import elman as elman_kernel
from numrnn.kernels import gru as gru_kernel
from numrnn.kernels.plan import MAX_ROWS, projection_calls_blas


def _training_step(op, gates, dtype, batch, seed):
    # Batch 40 makes three blocks of 16 rows and T * B = 240 rows one GEMM
    # chunk short of two, so both the block and the chunk paths run (in
    # float32 the LSTM and GRU forwards take the joint step on packed weights
    # instead of the projection GEMM; their backward GEMMs still chunk).
    # Batch 14 makes two blocks of 7 rows, past the matrix-vector loops.
    rng = np.random.default_rng(seed)
    steps, n_in, hidden = 6, 300, 24
    arrays = [rng.standard_normal((steps, batch, n_in)),
              rng.standard_normal((gates * hidden, n_in)) * 0.2,
              rng.standard_normal((gates * hidden, hidden)) * 0.2,
              rng.standard_normal(gates * hidden) * 0.1,
              rng.standard_normal(gates * hidden) * 0.1]
    x, w_ih, w_hh, b_ih, b_hh = [numrnn.Tensor(a.astype(dtype), requires_grad=True)
                                 for a in arrays]
    lengths = rng.integers(1, steps + 1, batch)
    states = (None, None) if op is F.lstm else (None,)
    output = op(x, *states, w_ih, w_hh, b_ih, b_hh, lengths=lengths)[0]
    output.backward(np.ones(output.shape, dtype=dtype))
    return [output.data] + [t.grad for t in (x, w_ih, w_hh, b_ih, b_hh)]


@pytest.mark.parametrize("batch", [40, 14])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, gates", [(F.lstm, 4), (F.gru, 3), (F.rnn, 1),
                                       (functools.partial(F.gru, reset_after=False), 3)],
                         ids=["lstm", "gru", "rnn", "gru_reset_before"])
def test_training_step_is_bit_identical_for_any_thread_count(op, gates, dtype, batch):
    previous = numrnn.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numrnn.set_num_threads(threads)
            results.append(_training_step(op, gates, dtype, batch, seed=3))
    finally:
        numrnn.set_num_threads(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_set_num_threads_sets_numba_and_blas_together():
    previous = numrnn.get_num_threads()
    try:
        numrnn.set_num_threads(1)
        assert numrnn.get_num_threads() == 1 == numba.get_num_threads()
        for name in blas_threads.available():
            assert blas_threads.get(name) == 1
    finally:
        numrnn.set_num_threads(previous)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (10_000, ValueError),
                                        (1.5, TypeError), (True, TypeError)])
def test_set_num_threads_refuses_bad_counts(bad, error):
    previous = numrnn.get_num_threads()
    with pytest.raises(error, match="set_num_threads: threads must be"):
        numrnn.set_num_threads(bad)
    assert numrnn.get_num_threads() == previous


def test_kernels_leave_the_blas_thread_counts_as_they_found_them():
    if not blas_threads.available():
        pytest.skip("no OpenBLAS copy under control")
    previous = {name: blas_threads.get(name) for name in blas_threads.available()}
    try:
        for name in previous:
            blas_threads.set(name, 2)
        _training_step(F.gru, 3, np.float32, batch=40, seed=1)
        assert {name: blas_threads.get(name) for name in previous} == dict.fromkeys(previous, 2)
    finally:
        for name, count in previous.items():
            blas_threads.set(name, count)


def test_kernels_run_their_blas_on_one_thread(monkeypatch):
    """Inside a kernel call the copy the kernels call is at one thread, then restored."""
    name = blas_threads.pinned_library()
    if name is None:
        pytest.skip("the kernels' OpenBLAS is not under control")
    seen = []
    real_forward = gru_kernel._forward

    def spy(*args):
        seen.append(blas_threads.get(name))
        return real_forward(*args)

    monkeypatch.setattr(gru_kernel, "_forward", spy)
    previous = blas_threads.get(name)
    try:
        blas_threads.set(name, 2)
        # float64: in float32 this shape takes the joint step, which calls no BLAS
        _training_step(F.gru, 3, np.float64, batch=40, seed=1)
        assert seen and set(seen) == {1}
        assert blas_threads.get(name) == 2
    finally:
        blas_threads.set(name, previous)


def test_small_single_row_calls_reach_no_blas_and_leave_it_alone(monkeypatch):
    """Below SMALL_PROJECTION a forward call computes everything with loops: no pinning."""
    assert not projection_calls_blas(1, 50, 32, 64)        # 102k multiply-adds
    assert projection_calls_blas(1, 50, 32, 256)            # 410k: a GEMM
    assert projection_calls_blas(MAX_ROWS + 1, 1, 1, 1)     # blocks past MAX_ROWS use GEMMs
    monkeypatch.setattr(blas_threads, "_set_count", lambda *args: pytest.fail("BLAS was pinned"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1, 32)).astype(np.float32)
    w_ih, w_hh = rng.standard_normal((64, 32)), rng.standard_normal((64, 64))
    h0 = np.zeros((1, 64), dtype=np.float32)
    output, _ = elman_kernel.forward_infer(
        x, (h0,), (w_ih.astype(np.float32), w_hh.astype(np.float32) * 0.1, None, None))
    assert output.shape == (50, 1, 64)


@pytest.fixture
def pinned_copy():
    """The OpenBLAS copy the kernels pin; every thread count is put back afterwards."""
    name = blas_threads.pinned_library()
    if name is None:
        pytest.skip("the kernels' OpenBLAS is not under control")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("set_num_threads(2) needs NUMBA_NUM_THREADS >= 2")
    previous_numba = numrnn.get_num_threads()
    previous = {copy: blas_threads.get(copy) for copy in blas_threads.available()}
    yield name
    numrnn.set_num_threads(previous_numba)
    for copy, count in previous.items():
        blas_threads.set(copy, count)


@pytest.mark.parametrize("before, asked", [(1, 2), (2, 1)])
def test_set_num_threads_inside_a_kernel_waits_for_it_to_leave(pinned_copy, before, asked):
    numrnn.set_num_threads(before)
    with blas_threads.single_threaded_kernel_blas():
        numrnn.set_num_threads(asked)
        assert blas_threads.get(pinned_copy) == 1
        for other in set(blas_threads.available()) - {pinned_copy}:
            assert blas_threads.get(other) == asked  # no kernel pins it: set at once
    assert blas_threads.get(pinned_copy) == asked


def test_set_num_threads_from_another_thread_waits_for_a_running_kernel(pinned_copy):
    numrnn.set_num_threads(1)
    inside, leave = threading.Event(), threading.Event()
    seen_inside = []

    def kernel():
        with blas_threads.single_threaded_kernel_blas():
            inside.set()
            leave.wait(timeout=60)
            seen_inside.append(blas_threads.get(pinned_copy))

    worker = threading.Thread(target=kernel)
    worker.start()
    try:
        assert inside.wait(timeout=60)
        numrnn.set_num_threads(2)
        assert blas_threads.get(pinned_copy) == 1
    finally:
        leave.set()
        worker.join()
    assert seen_inside == [1]
    assert blas_threads.get(pinned_copy) == 2
