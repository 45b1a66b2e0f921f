"""The layer-normalised LSTM and GRU kernels keep the contract of numrnn.kernels.recurrent:
inference equals training bit for bit, ``needs`` honoured one by one, one gradient per
weight of the kind's layout, and the same bits for any thread count."""

import numba
import numpy as np
import pytest

import numrnn
from numrnn import ArgumentError
from numrnn.functional.cell_kinds import GRU, LSTM
from numrnn.kernels import lstm_layer_norm, packed
from numrnn.kernels.gemm import matmul

VARIANTS = {"LSTM": (LSTM, {"layer_norm": True}),
            "GRU": (GRU, {"reset_after": True, "layer_norm": True})}


def problem(kind, options, steps=4, batch=3, n_in=2, hidden=5, dtype=np.float64, seed=0):
    """Random inputs, states and every parameter of the kind's layout; lengths ragged."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    states = tuple(rng.standard_normal((batch, hidden)).astype(dtype) * 0.5
                   for _ in kind.states)
    weights = tuple(rng.standard_normal(shape).astype(dtype) * 0.5
                    for _, shape in kind.parameters(n_in, hidden, options))
    lengths = np.maximum(steps - np.arange(batch) % 3, 1).astype(np.int64)
    return x, states, weights, lengths


def train_and_back(kind, options, x, states, weights, lengths, reverse):
    output, finals, saved = kind.forward_train(x, states, weights, lengths, reverse, options)
    grads = kind.backward(np.ones_like(output), tuple(np.ones_like(f) for f in finals), x,
                          states, weights, saved, lengths, reverse, options)
    return output, finals, grads


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_equals_training_and_every_weight_has_a_gradient(name, reverse, dtype):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = problem(kind, options, dtype=dtype)
    output, finals, grads = train_and_back(kind, options, x, states, weights, lengths, reverse)
    inferred, inferred_finals = kind.forward_infer(x, states, weights, lengths, reverse, options)
    np.testing.assert_array_equal(inferred, output)
    for a, b in zip(inferred_finals, finals):
        np.testing.assert_array_equal(a, b)
    # Past each row's length: zero output, and the final state is the last valid one.
    for b, length in enumerate(lengths):
        assert not output[length:, b].any()
        last = 0 if reverse else length - 1
        np.testing.assert_array_equal(finals[0][b], output[last, b])
    inputs = (x, *states, *weights)
    assert len(weights) == (10 if kind is LSTM else 8)
    assert len(grads) == len(inputs)
    for grad, value in zip(grads, inputs):
        assert grad.shape == value.shape and grad.dtype == value.dtype
        assert np.isfinite(grad).all() and grad.any()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_needs_are_honoured_one_by_one(name):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = problem(kind, options, seed=1)
    output, finals, saved = kind.forward_train(x, states, weights, lengths, False, options)
    seeds = (np.ones_like(output), tuple(np.ones_like(f) for f in finals))
    every = kind.backward(*seeds, x, states, weights, saved, lengths, False, options)
    for wanted in range(len(every)):
        needs = tuple(index == wanted for index in range(len(every)))
        grads = kind.backward(*seeds, x, states, weights, saved, lengths, False, options, needs)
        assert [grad is not None for grad in grads] == list(needs)
        np.testing.assert_array_equal(grads[wanted], every[wanted])


def _on_one_two_and_one_thread(kind, options, arrays):
    """``[output, *finals, *grads]`` of a reversed training call and its backward, on
    one thread, on two (where numba has them), then on one again."""
    previous = numrnn.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS), 1):
            numrnn.set_num_threads(threads)
            output, finals, grads = train_and_back(kind, options, *arrays, reverse=True)
            results.append([output, *finals, *grads])
    finally:
        numrnn.set_num_threads(previous)
    return results


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [40, 14])
def test_results_are_bit_identical_for_any_thread_count(name, dtype, batch):
    kind, options = VARIANTS[name]
    arrays = problem(kind, options, steps=6, batch=batch, n_in=30, hidden=24, dtype=dtype,
                     seed=3)
    results = _on_one_two_and_one_thread(kind, options, arrays)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("value", [1, "True", None])
def test_a_layer_norm_that_is_not_a_bool_is_refused(name, value):
    kind, options = VARIANTS[name]
    x, states, weights, lengths = problem(kind, options)
    with pytest.raises(ArgumentError, match="layer_norm must be True or False"):
        kind.forward_infer(x, states, weights, lengths, False, {**options, "layer_norm": value})


def test_the_reset_before_gru_has_no_layer_normalised_kernel():
    options = {"reset_after": False, "layer_norm": True}
    x, states, weights, lengths = problem(GRU, options)
    with pytest.raises(ArgumentError, match="layer_norm=True is not available"):
        GRU.forward_infer(x, states, weights, lengths, False, options)


def _tiles_give_the_gemms_bits(x, weight_ih):
    """Whether the packed tiles' input products have the same bits as the GEMM's here:
    OpenBLAS's own kernels on AVX-512 sum in the tiles' order (up to its K block), its
    Haswell kernels (``OPENBLAS_CORETYPE=Haswell``) do not."""
    rows = x.reshape(-1, x.shape[2])
    tiles = np.empty((rows.shape[0], weight_ih.shape[0]), dtype=x.dtype)
    packed.product(rows, packed.pack(weight_ih.T), tiles)
    return np.array_equal(tiles, matmul(rows, weight_ih.T))


@pytest.mark.parametrize("reverse", [False, True])
def test_input_products_made_by_block_give_the_gemms_bits(monkeypatch, reverse):
    """Float32 batch blocks on packed weights make the LSTM's input products themselves,
    for inputs up to BLOCK_PROJECTION_UP_TO; forced through the one GEMM instead,
    every output and gradient is the same (ragged lengths included): the same bits
    where the GEMM's products have the tiles' bits, else within float32 rounding."""
    kind, options = VARIANTS["LSTM"]
    steps, batch, n_in, hidden = 12, 10, 40, 64
    arrays = problem(kind, options, steps=steps, batch=batch, n_in=n_in, hidden=hidden,
                     dtype=np.float32, seed=5)
    sizes = (np.dtype(np.float32), batch, steps, n_in, hidden)
    assert lstm_layer_norm.projects_by_block(*sizes)
    output, finals, grads = train_and_back(kind, options, *arrays, reverse=reverse)
    inferred = kind.forward_infer(*arrays, reverse, options)
    monkeypatch.setattr(lstm_layer_norm, "BLOCK_PROJECTION_UP_TO", 0)
    assert not lstm_layer_norm.projects_by_block(*sizes)
    gemm_output, gemm_finals, gemm_grads = train_and_back(kind, options, *arrays,
                                                          reverse=reverse)
    np.testing.assert_array_equal(inferred[0], output)
    same_bits = _tiles_give_the_gemms_bits(arrays[0], arrays[2][0])
    for by_block, through_gemm in zip([output, *finals, *grads],
                                      [gemm_output, *gemm_finals, *gemm_grads]):
        if same_bits:
            np.testing.assert_array_equal(by_block, through_gemm)
        else:
            np.testing.assert_allclose(by_block, through_gemm, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch", [40, 13])
def test_input_products_made_by_block_are_the_same_for_any_thread_count(batch):
    # T·B = 130 puts rows in OpenBLAS's M tail, where the GEMM path's bits differ.
    kind, options = VARIANTS["LSTM"]
    steps, n_in, hidden = 10, 40, 64
    arrays = problem(kind, options, steps=steps, batch=batch, n_in=n_in, hidden=hidden,
                     dtype=np.float32, seed=7)
    assert lstm_layer_norm.projects_by_block(np.dtype(np.float32), batch, steps, n_in, hidden)
    results = _on_one_two_and_one_thread(kind, options, arrays)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()
