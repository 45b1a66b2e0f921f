"""F.lstm / F.lstm_cell: against the same LSTM built from primitive tape ops,
central differences, float32, validation, and (optionally) PyTorch."""

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import ArgumentTypeError, DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

# numrnn.functional.lstm is the function; the module is needed to patch its kernels.
lstm_kernels = importlib.import_module("numrnn.kernels.lstm")


def _without_kernels(monkeypatch):
    """Make any call of the LSTM's forward kernels fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel ran")

    for name in ("forward_train", "forward_infer"):
        monkeypatch.setattr(lstm_kernels, name, refuse)

STEPS, BATCH, N_IN, HIDDEN = 5, 4, 3, 4
RAGGED = np.array([3, 5, 1, 4], dtype=np.int64)
NAMES = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def _arrays(dtype=np.float64, bias=True, seed=0, steps=STEPS, batch=BATCH, n_in=N_IN,
            hidden=HIDDEN):
    rng = np.random.default_rng(seed)
    shapes = {"x": (steps, batch, n_in), "h0": (batch, hidden), "c0": (batch, hidden),
              "weight_ih": (4 * hidden, n_in), "weight_hh": (4 * hidden, hidden),
              "bias_ih": (4 * hidden,), "bias_hh": (4 * hidden,)}
    arrays = {name: rng.uniform(-1, 1, shape).astype(dtype) for name, shape in shapes.items()}
    if not bias:
        arrays["bias_ih"] = arrays["bias_hh"] = None
    return arrays


def _leaves(arrays):
    # Tensor() wraps without copying, so a non-contiguous view reaches the op as is.
    return {k: None if v is None else numrnn.Tensor(v, requires_grad=True)
            for k, v in arrays.items()}


def composed_lstm(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, lengths, reverse):
    """The LSTM from matmul, add, sigmoid, tanh, mul, getitem, where and stack only."""
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    rows = np.arange(batch)
    h, c = h0, c0
    step_outputs = []
    for step in range(steps):
        active = step < lengths
        position = np.where(active, lengths - 1 - step if reverse else step, 0)
        gates = x[position, rows] @ weight_ih.T + h @ weight_hh.T
        if bias_ih is not None:
            gates = gates + bias_ih + bias_hh
        i = F.sigmoid(gates[:, :hidden])
        f = F.sigmoid(gates[:, hidden:2 * hidden])
        g = F.tanh(gates[:, 2 * hidden:3 * hidden])
        o = F.sigmoid(gates[:, 3 * hidden:])
        c_new = f * c + i * g
        h_new = o * F.tanh(c_new)
        h = F.where(active[:, None], h_new, h)
        c = F.where(active[:, None], c_new, c)
        step_outputs.append(h_new)
    # Position t of row b was visited at step t, or at step L-1-t when reversed.
    positions = np.arange(steps)[:, None]
    step_of = np.clip(lengths - 1 - positions if reverse else positions, 0, steps - 1)
    visited = F.stack(step_outputs)[step_of, rows[None, :]]
    output = F.where((positions < lengths)[:, :, None], visited, 0.0)
    return output, h, c


def _loss_and_grads(fn, arrays, seed=1):
    leaves = _leaves(arrays)
    outputs = fn(**leaves)
    rng = np.random.default_rng(seed)
    loss = None
    for out in outputs:
        term = F.sum(out * rng.standard_normal(out.shape).astype(out.dtype))
        loss = term if loss is None else loss + term
    loss.backward()
    return [o.data for o in outputs], {k: v.grad for k, v in leaves.items() if v is not None}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, RAGGED], ids=["full", "ragged"])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_matches_composed_primitives(reverse, lengths, bias):
    arrays = _arrays(bias=bias)
    full = np.full(BATCH, STEPS) if lengths is None else lengths
    outs, grads = _loss_and_grads(
        lambda **a: F.lstm(**a, lengths=lengths, reverse=reverse), arrays)
    ref_outs, ref_grads = _loss_and_grads(
        lambda **a: composed_lstm(**a, lengths=full, reverse=reverse), arrays)
    for got, want in zip(outs, ref_outs):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-10, atol=1e-10,
                                   err_msg=name)


def test_cell_matches_composed_step_and_sequence():
    arrays = _arrays(steps=1)
    names = {"x": "x", "h0": "h", "c0": "c"}

    def cell(x, h0, c0, **weights):
        return F.lstm_cell(x[0], h0, c0, **weights)

    def composed(**a):
        _, h, c = composed_lstm(**a, lengths=np.ones(BATCH, np.int64), reverse=False)
        return h, c

    outs, grads = _loss_and_grads(cell, arrays)
    ref_outs, ref_grads = _loss_and_grads(composed, arrays)
    for got, want in zip(outs, ref_outs):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for name in grads:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-10, atol=1e-10,
                                   err_msg=names.get(name, name))
    _, h_n, c_n = F.lstm(**arrays)
    np.testing.assert_array_equal(outs[0], h_n.data)
    np.testing.assert_array_equal(outs[1], c_n.data)


@given(batch=S.sequence_batches(max_steps=6, max_batch=6, features=st.integers(1, 6)),
       hidden=st.integers(1, 6), reverse=st.booleans(), bias=st.booleans(), data=st.data())
def test_gradcheck(batch, hidden, reverse, bias, data):
    x, lengths = batch
    n_in = x.shape[2]
    draw = lambda *shape: data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))  # noqa: E731
    h0, c0 = draw(x.shape[1], hidden), draw(x.shape[1], hidden)
    weights = [draw(4 * hidden, n_in), draw(4 * hidden, hidden)]
    biases = [draw(4 * hidden), draw(4 * hidden)] if bias else [None, None]
    gradcheck(lambda *a: F.lstm(*a, lengths=lengths, reverse=reverse),
              [x, h0, c0, *weights, *biases], full_jacobian_limit=256)


def test_cell_gradcheck():
    arrays = _arrays(steps=1, batch=2, n_in=2, hidden=2)
    gradcheck(lambda x, h, c, *w: F.lstm_cell(x, h, c, *w),
              [arrays["x"][0], arrays["h0"], arrays["c0"], arrays["weight_ih"],
               arrays["weight_hh"], arrays["bias_ih"], arrays["bias_hh"]])


@pytest.mark.parametrize("reverse", [False, True])
def test_float32_agrees_with_float64(reverse):
    arrays64 = _arrays()
    arrays32 = {k: v.astype(np.float32) for k, v in arrays64.items()}
    run = lambda **a: F.lstm(**a, lengths=RAGGED, reverse=reverse)  # noqa: E731
    outs32, grads32 = _loss_and_grads(run, arrays32)
    outs64, grads64 = _loss_and_grads(run, {k: v.astype(np.float32).astype(np.float64)
                                            for k, v in arrays64.items()})
    for got, want in zip(outs32, outs64):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for name in grads32:
        assert grads32[name].dtype == np.float32
        np.testing.assert_allclose(grads32[name], grads64[name], rtol=1e-4, atol=1e-5)


def test_initial_states_default_to_zeros():
    arrays = _arrays()
    arrays["h0"] = np.zeros((BATCH, HIDDEN))
    arrays["c0"] = np.zeros((BATCH, HIDDEN))
    explicit = F.lstm(**arrays)
    implicit = F.lstm(arrays["x"], None, None, *(arrays[n] for n in NAMES[3:]))
    for a, b in zip(explicit, implicit):
        np.testing.assert_array_equal(a.data, b.data)


def test_no_grad_and_constant_inputs_keep_no_residuals(monkeypatch):
    arrays = _arrays()
    leaves = _leaves(arrays)

    def refuse(*args, **kwargs):
        raise AssertionError("forward_train called where nothing needs a gradient")

    with_grad = F.lstm(**leaves, lengths=RAGGED)
    monkeypatch.setattr(lstm_kernels, "forward_train", refuse)
    with numrnn.no_grad():
        out, h_n, c_n = F.lstm(**leaves, lengths=RAGGED)
        h, c = F.lstm_cell(leaves["x"][0], leaves["h0"], leaves["c0"],
                           *(leaves[n] for n in NAMES[3:]))
    assert not out.requires_grad
    for a, b in zip((out, h_n, c_n), with_grad):
        np.testing.assert_array_equal(a.data, b.data)
    constant, _, _ = F.lstm(**arrays, lengths=RAGGED)
    assert not constant.requires_grad
    np.testing.assert_array_equal(constant.data, out.data)


def test_gradients_only_where_needed():
    arrays = _arrays()
    leaves = {k: numrnn.tensor(v, requires_grad=k in ("h0", "weight_hh")) for k, v in
              arrays.items()}
    out, _, _ = F.lstm(**leaves)
    F.sum(out).backward()
    assert [leaves[n].grad is not None for n in NAMES] == [n in ("h0", "weight_hh")
                                                           for n in NAMES]


def test_non_contiguous_inputs():
    arrays = _arrays()
    views = {
        "x": np.ascontiguousarray(arrays["x"].transpose(1, 0, 2)).transpose(1, 0, 2),
        "weight_ih": np.ascontiguousarray(arrays["weight_ih"].T).T,
        "weight_hh": np.asfortranarray(arrays["weight_hh"]),
        "h0": np.ascontiguousarray(arrays["h0"].T).T,
        "c0": arrays["c0"], "bias_ih": np.repeat(arrays["bias_ih"], 2)[::2],
        "bias_hh": arrays["bias_hh"],
    }
    assert not views["x"].flags.c_contiguous and not views["bias_ih"].flags.c_contiguous
    outs, grads = _loss_and_grads(lambda **a: F.lstm(**a, lengths=RAGGED, reverse=True),
                                  views)
    ref_outs, ref_grads = _loss_and_grads(lambda **a: F.lstm(**a, lengths=RAGGED,
                                                             reverse=True), arrays)
    for got, want in zip(outs, ref_outs):
        np.testing.assert_array_equal(got, want)
    for name in NAMES:
        np.testing.assert_array_equal(grads[name], ref_grads[name], err_msg=name)
    h, c = F.lstm_cell(views["x"][0], views["h0"], views["c0"],
                       *(views[n] for n in NAMES[3:]))
    _, h_ref, c_ref = F.lstm(arrays["x"][:1], *(arrays[n] for n in NAMES[1:]))
    np.testing.assert_array_equal(h.data, h_ref.data)


def _modified(**changes):
    arrays = _arrays()
    arrays.update(changes)
    return arrays


X, H0 = _arrays()["x"], _arrays()["h0"]
W_IH, W_HH = _arrays()["weight_ih"], _arrays()["weight_hh"]
INVALID = [
    ({"x": X[0]}, {}, ShapeError, "lstm: input must be 3-D (T, B, I), got 2-D"),
    ({"x": X[:, :, :2]}, {}, ShapeError, "input feature size must be 3 (from weight_ih), got 2"),
    ({"x": X[:0]}, {}, ShapeError, "at least one step and one batch row"),
    ({"x": X.astype(np.float32)}, {}, DTypeError, "weight_ih must have dtype float32"),
    ({"x": X.astype(np.int64)}, {}, DTypeError, "input must be float32 or float64, got int64"),
    ({"x": X.tolist()}, {}, ArgumentTypeError, "input must be an array or Tensor, got list"),
    ({"h0": H0[:2]}, {}, ShapeError, "h0 must have shape (4, 4), got (2, 4)"),
    ({"c0": H0[:, :3]}, {}, ShapeError, "c0 must have shape (4, 4), got (4, 3)"),
    ({"c0": H0.astype(np.float32)}, {}, DTypeError, "c0 must have dtype float64"),
    ({"weight_ih": W_IH[:12]}, {}, ShapeError, "weight_ih must have 16 rows"),
    ({"weight_ih": W_IH[0]}, {}, ShapeError, "weight_ih must be 2-D"),
    ({"weight_hh": W_HH[:, :3]}, {}, ShapeError,
     "weight_hh must have shape (4*hidden_size, hidden_size)"),
    ({"weight_hh": W_HH.astype(np.float32)}, {}, DTypeError, "weight_hh must have dtype float64"),
    ({"bias_ih": np.zeros(15)}, {}, ShapeError, "bias_ih must have shape (16,), got (15,)"),
    ({"bias_hh": np.zeros(16, np.float32)}, {}, DTypeError, "bias_hh must have dtype float64"),
    ({}, {"lengths": [5, 5, 5]}, ShapeError, "lengths must have shape (4,)"),
    ({}, {"lengths": [5, 0, 5, 5]}, ShapeError, "every length must be in 1..5"),
    ({}, {"lengths": [5, 6, 5, 5]}, ShapeError, "every length must be in 1..5"),
    ({}, {"lengths": [5.0, np.nan, 5.0, 5.0]}, ShapeError, "lengths must be finite"),
    ({}, {"lengths": [5.0, np.inf, 5.0, 5.0]}, ShapeError, "lengths must be finite"),
    ({}, {"lengths": [5.0, 2.5, 5.0, 5.0]}, ShapeError, "lengths must be whole numbers"),
    ({}, {"lengths": np.array(["5"] * 4)}, DTypeError, "lengths must be integers"),
]


@pytest.mark.parametrize("changes, options, error, message", INVALID)
def test_invalid_arguments_are_refused_before_any_kernel(monkeypatch, changes, options, error,
                                                         message):
    _without_kernels(monkeypatch)
    with pytest.raises(error) as info:
        F.lstm(**_modified(**changes), **options)
    assert message in str(info.value)


@pytest.mark.parametrize("changes, error, message", [
    ({"x": X}, ShapeError, "lstm_cell: input must be 2-D (B, I), got 3-D"),
    ({"x": X[0, :, :2]}, ShapeError, "lstm_cell: input feature size must be 3"),
    ({"h": H0[:3]}, ShapeError, "lstm_cell: h must have shape (4, 4), got (3, 4)"),
    ({"c": H0.astype(np.float32)}, DTypeError, "lstm_cell: c must have dtype float64"),
])
def test_invalid_cell_arguments(monkeypatch, changes, error, message):
    _without_kernels(monkeypatch)
    arrays = _arrays()
    kwargs = {"x": arrays["x"][0], "h": arrays["h0"], "c": arrays["c0"],
              **{n: arrays[n] for n in NAMES[3:]}, **changes}
    with pytest.raises(error) as info:
        F.lstm_cell(**kwargs)
    assert message in str(info.value)


def _torch_lstm(torch, arrays, bidirectional):
    module = torch.nn.LSTM(N_IN, HIDDEN, bidirectional=bidirectional, dtype=torch.float64)
    suffixes = ["_reverse"] if bidirectional else [""]
    with torch.no_grad():
        for suffix in suffixes:
            for name in NAMES[3:]:
                getattr(module, f"{name}_l0{suffix}").copy_(torch.from_numpy(arrays[name]))
    return module


@pytest.mark.parity
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_torch_packed_sequence(reverse):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    arrays = _arrays()
    module = _torch_lstm(torch, arrays, bidirectional=reverse)
    directions = 2 if reverse else 1
    x = torch.tensor(arrays["x"], requires_grad=True)
    states = [torch.tensor(np.stack([arrays[n]] * directions), requires_grad=True)
              for n in ("h0", "c0")]
    packed = pack_padded_sequence(x, torch.from_numpy(RAGGED), enforce_sorted=False)
    packed_out, (h_n, c_n) = module(packed, tuple(states))
    out, _ = pad_packed_sequence(packed_out, total_length=STEPS)
    ours, grads = _loss_and_grads(lambda **a: F.lstm(**a, lengths=RAGGED, reverse=reverse),
                                  arrays)
    theirs = [out[..., HIDDEN:] if reverse else out, h_n[-1], c_n[-1]]
    rng = np.random.default_rng(1)  # the same seeds _loss_and_grads drew
    loss = sum((t * torch.from_numpy(rng.standard_normal(t.shape))).sum() for t in theirs)
    loss.backward()
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-9, atol=1e-12)
    suffix = "_reverse" if reverse else ""
    torch_grads = {"x": x.grad, "h0": states[0].grad[-1], "c0": states[1].grad[-1],
                   **{n: getattr(module, f"{n}_l0{suffix}").grad for n in NAMES[3:]}}
    for name in NAMES:
        np.testing.assert_allclose(grads[name], torch_grads[name].numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
