"""F.rnn / F.rnn_cell (Elman, tanh and relu): fused op vs primitive ops, gradcheck,
validation, and (optionally) PyTorch parity."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError
from numrnn import functional as F
from numrnn.kernels import elman
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S

ACTIVATIONS = {"tanh": F.tanh, "relu": F.relu}


def _positions(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def composed_rnn(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity):
    """The same RNN from matmul, add, tanh/relu, getitem, concatenate and stack."""
    act = ACTIVATIONS[nonlinearity]
    steps, batch, _ = x.shape
    zero = numrnn.tensor(np.zeros((1, w_hh.shape[1])))
    rows_out = [[zero] * steps for _ in range(batch)]
    finals = []
    for b in range(batch):
        h = h0[b:b + 1]
        for t in _positions(int(lengths[b]), reverse):
            preact = F.matmul(x[t, b:b + 1], w_ih.T) + F.matmul(h, w_hh.T)
            if b_ih is not None:
                preact = preact + b_ih + b_hh
            h = rows_out[b][t] = act(preact)
        finals.append(h)
    output = F.stack([F.concatenate([rows_out[b][t] for b in range(batch)], axis=0)
                      for t in range(steps)], axis=0)
    return output, F.concatenate(finals, axis=0)


def make_inputs(steps, batch, n_in, hidden, bias=True, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, (steps, batch, n_in)), rng.uniform(-1, 1, (batch, hidden)),
              rng.uniform(-0.7, 0.7, (hidden, n_in)), rng.uniform(-0.7, 0.7, (hidden, hidden))]
    if bias:
        arrays += [rng.uniform(-0.5, 0.5, hidden), rng.uniform(-0.5, 0.5, hidden)]
    tensors = [numrnn.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    return tensors + [None, None] if not bias else tensors


def _loss_and_grads(fn, inputs, seed=1):
    """Backprop sum(output * G) + sum(h_n * G') and return every input's gradient."""
    output, h_n = fn(*inputs)
    rng = np.random.default_rng(seed)
    seed_out = numrnn.tensor(rng.standard_normal(output.shape), dtype=output.dtype)
    seed_hn = numrnn.tensor(rng.standard_normal(h_n.shape), dtype=output.dtype)
    ((output * seed_out).sum() + (h_n * seed_hn).sum()).backward()
    return output.data, h_n.data, [None if t is None else t.grad for t in inputs]


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_matches_composed_primitive_ops(nonlinearity, bias, reverse):
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    fused_inputs = make_inputs(5, 4, 3, 4, bias)
    composed_inputs = [None if t is None else numrnn.tensor(t.data, requires_grad=True)
                       for t in fused_inputs]
    fused = _loss_and_grads(
        lambda *a: F.rnn(*a, lengths=lengths, reverse=reverse, nonlinearity=nonlinearity),
        fused_inputs)
    composed = _loss_and_grads(lambda *a: composed_rnn(*a, lengths, reverse, nonlinearity),
                               composed_inputs)
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fused[1], composed[1], rtol=1e-10, atol=1e-10)
    for got, expected in zip(fused[2], composed[2]):
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def _smallest_preactivation(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """min |pre-activation| over every valid position, from the states the kernel saved."""
    _, _, (_, h_prev) = elman.forward_train(x, (h0,), (w_ih, w_hh, b_ih, b_hh), lengths,
                                            reverse, {"nonlinearity": "relu"})
    preact = x @ w_ih.T + h_prev @ w_hh.T
    if b_ih is not None:
        preact += b_ih + b_hh
    valid = np.arange(x.shape[0])[:, None] < lengths[None, :]
    return np.abs(preact[valid]).min()


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@given(batch=S.sequence_batches(max_steps=6, max_batch=6, features=st.integers(1, 6),
                                min_value=-1.5, max_value=1.5),
       hidden=st.integers(1, 6), bias=st.booleans(), reverse=st.booleans(), data=st.data())
def test_gradcheck(nonlinearity, batch, hidden, bias, reverse, data):
    x, lengths = batch
    n_in = x.shape[2]
    shapes = [(x.shape[1], hidden), (hidden, n_in), (hidden, hidden)]
    shapes += [(hidden,), (hidden,)] if bias else []
    arrays = [data.draw(S.float_arrays(shape, min_value=-1.0, max_value=1.0))
              for shape in shapes]
    arrays += [] if bias else [None, None]
    if nonlinearity == "relu":
        # ReLU has a kink at 0: a central difference straddling it is meaningless.
        # The steps move each pre-activation by far less than 1e-4, so only draws
        # with every valid pre-activation further away than that are checked.
        assume(_smallest_preactivation(x, *arrays, lengths, reverse) > 1e-4)
    # Random directional checks (O(1) forward calls each) for all but the tiniest
    # draws: the element-by-element comparison lives in tests/kernels.
    def run(*args):
        return F.rnn(*args, lengths=lengths, reverse=reverse, nonlinearity=nonlinearity)

    gradcheck(run, [x, *arrays], directions=6, full_jacobian_limit=300)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_gradcheck_and_equals_one_step(nonlinearity):
    x, h, w_ih, w_hh, b_ih, b_hh = [t.data for t in make_inputs(1, 3, 4, 5, seed=2)]
    arrays = [h, w_ih, w_hh, b_ih, b_hh]
    if nonlinearity == "relu":
        assert _smallest_preactivation(x, *arrays, np.ones(3, np.int64), False) > 1e-3
    gradcheck(lambda *a: F.rnn_cell(*a, nonlinearity=nonlinearity), [x[0], *arrays])
    _, h_n = F.rnn(x, *arrays, nonlinearity=nonlinearity)
    np.testing.assert_array_equal(F.rnn_cell(x[0], *arrays, nonlinearity=nonlinearity).data,
                                  h_n.data)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_float32_agrees_with_float64(nonlinearity):
    lengths = np.array([6, 2, 4], dtype=np.int64)

    def run(*args):
        return F.rnn(*args, lengths=lengths, reverse=True, nonlinearity=nonlinearity)

    out64, hn64, grads64 = _loss_and_grads(run, make_inputs(6, 3, 4, 5))
    out32, hn32, grads32 = _loss_and_grads(run, make_inputs(6, 3, 4, 5, dtype=np.float32))
    assert out32.dtype == np.float32 and all(g.dtype == np.float32 for g in grads32)
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hn32, hn64, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads32, grads64):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_no_grad_records_nothing_and_matches():
    inputs = make_inputs(4, 2, 3, 3)
    output, h_n = F.rnn(*inputs, nonlinearity="relu")
    with numrnn.no_grad():
        out_infer, hn_infer = F.rnn(*inputs, nonlinearity="relu")
    assert not out_infer.requires_grad and not hn_infer.requires_grad
    np.testing.assert_array_equal(out_infer.data, output.data)
    np.testing.assert_array_equal(hn_infer.data, h_n.data)


def test_h0_none_means_zeros_and_noncontiguous_inputs():
    x, _, w_ih, w_hh, b_ih, b_hh = [t.data for t in make_inputs(4, 3, 5, 2)]
    expected, expected_n = F.rnn(x, np.zeros((3, 2)), w_ih, w_hh, b_ih, b_hh)
    batch_major = np.ascontiguousarray(x.transpose(1, 0, 2))
    output, h_n = F.rnn(batch_major.transpose(1, 0, 2), None, np.asfortranarray(w_ih),
                        np.asfortranarray(w_hh), b_ih, b_hh)
    np.testing.assert_array_equal(output.data, expected.data)
    np.testing.assert_array_equal(h_n.data, expected_n.data)


def _arguments(**changes):
    x, h0, w_ih, w_hh, b_ih, b_hh = [t.data for t in make_inputs(4, 2, 3, 5)]
    args = dict(x=x, h0=h0, weight_ih=w_ih, weight_hh=w_hh, bias_ih=b_ih, bias_hh=b_hh)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, error, message", [
    (dict(x=np.zeros((4, 3))), ShapeError, "input must be 3-D"),
    (dict(x=np.zeros((4, 0, 3))), ShapeError, "one batch row"),
    (dict(x=np.zeros((4, 2, 7))), ShapeError, "feature size must be 3 .* got 7"),
    (dict(h0=np.zeros((3, 5))), ShapeError, r"h0 must have shape \(2, 5\), got \(3, 5\)"),
    (dict(h0=np.zeros((2, 5), np.float32)), DTypeError, "h0 must have dtype float64"),
    (dict(weight_hh=np.zeros((5, 4))), ShapeError, "weight_hh must have shape"),
    (dict(weight_ih=np.zeros((4, 3))), ShapeError, "weight_ih must have 5 rows"),
    (dict(bias_hh=np.zeros(4)), ShapeError, r"bias_hh must have shape \(5,\)"),
    (dict(weight_hh=np.zeros((5, 5), np.float32)), DTypeError, "weight_hh .* float64"),
    (dict(lengths=[4, 4, 4]), ShapeError, r"lengths must have shape \(2,\)"),
    (dict(lengths=[-1, 4]), ShapeError, r"every length must be in 1\.\.4"),
    (dict(lengths=[4, 9]), ShapeError, r"every length must be in 1\.\.4"),
    (dict(lengths=[np.nan, 1]), ShapeError, "lengths must be finite"),
    (dict(lengths=[-np.inf, 1]), ShapeError, "lengths must be finite"),
    (dict(lengths=[1.5, 1]), ShapeError, "whole numbers"),
    (dict(nonlinearity="sigmoid"), ArgumentError, "nonlinearity must be one of 'tanh', 'relu'"),
    (dict(nonlinearity=None), ArgumentError, "nonlinearity must be one of"),
])
def test_validation_errors(changes, error, message):
    with pytest.raises(error, match=f"rnn: .*{message}"):
        F.rnn(**_arguments(**changes))


def test_cell_validation_errors():
    x, h0, w_ih, w_hh, _, _ = [t.data for t in make_inputs(1, 2, 3, 5)]
    with pytest.raises(ShapeError, match="rnn_cell: input must be 2-D"):
        F.rnn_cell(x, h0, w_ih, w_hh)
    with pytest.raises(ShapeError, match=r"rnn_cell: h must have shape \(2, 5\)"):
        F.rnn_cell(x[0], h0.T, w_ih, w_hh)
    with pytest.raises(ArgumentError, match="rnn_cell: nonlinearity must be one of"):
        F.rnn_cell(x[0], h0, w_ih, w_hh, nonlinearity="gelu")


# -- optional parity with PyTorch -----------------------------------------------------------


@pytest.mark.parity
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_torch_parity(nonlinearity, bias, reverse):
    torch = pytest.importorskip("torch")
    steps, batch, n_in, hidden = 5, 4, 3, 4
    lengths = np.array([3, 5, 1, 4], dtype=np.int64)
    inputs = make_inputs(steps, batch, n_in, hidden, bias)
    layer = torch.nn.RNN(n_in, hidden, nonlinearity=nonlinearity, bias=bias,
                         bidirectional=reverse, dtype=torch.float64)
    suffix = "_l0_reverse" if reverse else "_l0"
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    with torch.no_grad():
        for name, tensor in zip(names, inputs[2:]):
            getattr(layer, name + suffix).copy_(torch.from_numpy(tensor.data))
    x = torch.tensor(inputs[0].data, requires_grad=True)
    h0_data = np.zeros((2 if reverse else 1, batch, hidden))
    h0_data[-1] = inputs[1].data
    h0 = torch.tensor(h0_data, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths),
                                                     enforce_sorted=False)
    packed_out, h_n = layer(packed, h0)
    output, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, total_length=steps)
    output, h_n = output[..., -hidden:], h_n[-1]

    rng = np.random.default_rng(1)
    seed_out = rng.standard_normal((steps, batch, hidden))
    seed_hn = rng.standard_normal((batch, hidden))
    ((output * torch.from_numpy(seed_out)).sum() + (h_n * torch.from_numpy(seed_hn)).sum()
     ).backward()
    ours_out, ours_hn = F.rnn(*inputs, lengths=lengths, reverse=reverse,
                              nonlinearity=nonlinearity)
    ((ours_out * seed_out).sum() + (ours_hn * seed_hn).sum()).backward()

    tol = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours_out.data, output.detach().numpy(), **tol)
    np.testing.assert_allclose(ours_hn.data, h_n.detach().numpy(), **tol)
    np.testing.assert_allclose(inputs[0].grad, x.grad.numpy(), **tol)
    np.testing.assert_allclose(inputs[1].grad, h0.grad[-1].numpy(), **tol)
    for name, tensor in zip(names, inputs[2:]):
        torch_grad = getattr(layer, name + suffix).grad.numpy()
        np.testing.assert_allclose(tensor.grad, torch_grad, err_msg=name, **tol)
