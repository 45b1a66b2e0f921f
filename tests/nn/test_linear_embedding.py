"""Linear and Embedding: shapes, initialization, gradients, errors, repr, config, torch parity."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError, nn
from numrnn import functional as F
from numrnn.testing import gradcheck, gradcheck_module
from numrnn.testing import strategies as S

# -- Linear ----------------------------------------------------------------------------------


def test_linear_parameters_have_pytorch_names_shapes_and_init_bounds():
    layer = nn.Linear(64, 10, rng=0)
    assert [(name, p.shape, p.dtype) for name, p in layer.named_parameters()] == [
        ("weight", (10, 64), np.float32), ("bias", (10,), np.float32)]
    bound = 1 / np.sqrt(64)
    assert 0.95 * bound < np.abs(layer.weight.data).max() <= bound  # 640 draws fill the range
    assert 0 < np.abs(layer.bias.data).max() <= bound
    again = nn.Linear(64, 10, rng=0)
    np.testing.assert_array_equal(again.weight.data, layer.weight.data)
    no_bias = nn.Linear(64, 10, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]


@pytest.mark.parametrize("leading", [(), (5,), (7, 3), (3, 7), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_maps_the_last_dimension_of_any_input(leading, bias):
    layer = nn.Linear(4, 6, bias=bias, dtype=np.float64, rng=1)
    x = np.random.default_rng(2).standard_normal(leading + (4,))
    y = layer(x)
    assert y.shape == leading + (6,) and y.dtype == np.float64
    expected = x @ layer.weight.data.T + (layer.bias.data if bias else 0)
    np.testing.assert_allclose(y.data, expected, rtol=1e-13, atol=1e-13)


@given(S.shapes(min_dims=1, max_dims=3, max_side=3), st.integers(1, 3), st.integers(1, 3),
       st.booleans(), st.data())
def test_linear_gradients_wrt_input_and_parameters(leading, n_in, n_out, bias, data):
    layer = nn.Linear(n_in, n_out, bias=bias, dtype=np.float64, rng=0)
    x = data.draw(S.float_arrays(tuple(leading) + (n_in,)))
    gradcheck_module(layer, [x], full_jacobian_limit=400)


def test_linear_refuses_bad_input_naming_expected_and_got():
    layer = nn.Linear(64, 8)
    expected = r"^Linear: input feature size must be 64 \(in_features\), got 128$"
    with pytest.raises(ShapeError, match=expected):
        layer(np.zeros((3, 2, 128), np.float32))
    with pytest.raises(DTypeError, match="Linear: input must have dtype float32"):
        layer(np.zeros((3, 64)))
    with pytest.raises(ShapeError, match="Linear: input must have at least 1 dimension"):
        layer(np.zeros((), np.float32))
    with pytest.raises(ArgumentError,
                       match="Linear: in_features must be a non-negative int, got -1"):
        nn.Linear(-1, 3)
    with pytest.raises(DTypeError, match="Linear: dtype must be float32 or float64, got int32"):
        nn.Linear(2, 3, dtype=np.int32)


def test_linear_repr_and_config():
    assert repr(nn.Linear(4, 6)) == "Linear(in_features=4, out_features=6, bias=True)"
    assert (repr(nn.Linear(4, 6, bias=False, dtype=np.float64))
            == "Linear(in_features=4, out_features=6, bias=False, dtype=float64)")
    config = nn.Linear(4, 6, bias=False, dtype=np.float64).get_config()
    assert config == {"in_features": 4, "out_features": 6, "bias": False, "dtype": "float64"}
    rebuilt = nn.Linear(**config)
    assert rebuilt.weight.shape == (6, 4) and rebuilt.bias is None
    assert rebuilt.weight.dtype == np.float64


# -- Embedding -------------------------------------------------------------------------------


def test_embedding_looks_up_rows_in_any_index_shape():
    embed = nn.Embedding(10, 3, rng=0)
    ids = np.array([[1, 2, 9], [0, 2, 2]])  # (T, B)
    out = embed(ids)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, embed.weight.data[ids])
    np.testing.assert_array_equal(embed(numrnn.tensor(ids.T)).data, embed.weight.data[ids.T])


def test_embedding_init_is_standard_normal_with_a_zero_padding_row():
    embed = nn.Embedding(500, 40, padding_idx=-1, rng=0)
    assert embed.padding_idx == 499
    np.testing.assert_array_equal(embed.weight.data[499], 0)
    values = embed.weight.data[:499]
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02
    assert [n for n, _ in embed.named_parameters()] == ["weight"]


def test_embedding_padding_row_gets_no_gradient_and_never_moves():
    embed = nn.Embedding(5, 2, padding_idx=0, dtype=np.float64, rng=0)
    ids = np.array([[3, 0, 0], [3, 1, 0]])
    out = embed(ids)
    out.backward(np.ones(out.shape))
    expected = np.zeros((5, 2))
    expected[3], expected[1] = 2.0, 1.0
    np.testing.assert_array_equal(embed.weight.grad, expected)
    np.testing.assert_array_equal(out.data[0, 1], 0.0)


@given(st.integers(1, 5), st.integers(1, 3), st.sampled_from([None, 0, -1]), st.data())
def test_embedding_gradient_wrt_weight(rows, dim, padding_idx, data):
    embed = nn.Embedding(rows, dim, padding_idx=padding_idx, dtype=np.float64, rng=0)
    ids = data.draw(hnp.arrays(np.int64, S.shapes(max_dims=2, max_side=3),
                               elements=st.integers(0, rows - 1)))
    if padding_idx is None:
        gradcheck_module(embed, [ids])
        return
    # The padding row's gradient is zero by design, not by calculus: compare with
    # central differences of a function that holds that row fixed.
    frozen = np.arange(rows)[:, None] == embed.padding_idx
    table = embed.weight.data.copy()

    def lookup(weight):
        held = F.where(frozen, table, weight)
        return nn.functional_call(embed, {"weight": held}, (ids,))

    gradcheck(lookup, [table])


def test_embedding_refuses_bad_input_naming_expected_and_got():
    embed = nn.Embedding(10, 3)
    expected = r"^Embedding: every id must be in 0..9 \(num_embeddings\), got 10$"
    with pytest.raises(ShapeError, match=expected):
        embed(np.array([1, 10]))
    with pytest.raises(ShapeError, match="got -2"):
        embed(np.array([[1], [-2]]))
    with pytest.raises(DTypeError, match="input must be an integer array, got dtype float64"):
        embed(np.array([1.0]))
    with pytest.raises(ArgumentError, match=r"padding_idx must be in -10..9 \(num_embeddings=10\)"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(ArgumentError,
                       match="Embedding: embedding_dim must be a positive int, got 0"):
        nn.Embedding(10, 0)


def test_embedding_repr_and_config():
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.Embedding(10, 3, padding_idx=-1)) == "Embedding(10, 3, padding_idx=9)"
    config = nn.Embedding(10, 3, padding_idx=0, dtype=np.float64).get_config()
    assert config == {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0,
                      "dtype": "float64"}
    rebuilt = nn.Embedding(**config)
    assert rebuilt.weight.shape == (10, 3) and rebuilt.weight.dtype == np.float64


# -- parity with PyTorch (optional) ------------------------------------------------------------


def test_linear_matches_torch_in_float64():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(5, 4, dtype=np.float64, rng=0)
    reference = torch.nn.Linear(5, 4, dtype=torch.float64)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((6, 3, 5))
    seed = np.random.default_rng(2).standard_normal((6, 3, 4))
    x_ours, x_torch = numrnn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_torch = layer(x_ours), reference(x_torch)
    y_ours.backward(seed)
    y_torch.backward(torch.from_numpy(seed))
    np.testing.assert_allclose(y_ours.data, y_torch.detach().numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(x_ours.grad, x_torch.grad.numpy(), rtol=0, atol=1e-9)
    for name, param in layer.named_parameters():
        np.testing.assert_allclose(param.grad, getattr(reference, name).grad.numpy(),
                                   rtol=0, atol=1e-9)


def test_embedding_matches_torch_in_float64():
    torch = pytest.importorskip("torch")
    embed = nn.Embedding(7, 3, padding_idx=2, dtype=np.float64, rng=0)
    reference = torch.nn.Embedding(7, 3, padding_idx=2, dtype=torch.float64)
    reference.load_state_dict({"weight": torch.from_numpy(embed.weight.data.copy())})
    ids = np.array([[0, 2, 6], [2, 2, 1], [6, 6, 0]])
    seed = np.random.default_rng(2).standard_normal((3, 3, 3))
    y_ours, y_torch = embed(ids), reference(torch.from_numpy(ids))
    y_ours.backward(seed)
    y_torch.backward(torch.from_numpy(seed))
    np.testing.assert_allclose(y_ours.data, y_torch.detach().numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(embed.weight.grad, reference.weight.grad.numpy(), rtol=0, atol=1e-9)
