"""Attention (functional and layer): values, exact masking, gradients, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numrnn
from numrnn import ArgumentError, DTypeError, ShapeError, nn
from numrnn import functional as F
from numrnn.testing import gradcheck, gradcheck_module
from numrnn.testing.strategies import float_arrays

METHODS = ("dot", "general", "additive")


def reference(method, query, keys, lengths, params):
    """Plain NumPy loops over rows and positions: the attention equations as written."""
    steps, batch, _ = keys.shape
    weights = np.zeros((batch, steps))
    context = np.zeros((batch, keys.shape[2]))
    for b in range(batch):
        scores = []
        for s in range(lengths[b]):
            k, q = keys[s, b], query[b]
            if method == "dot":
                scores.append(q @ k)
            elif method == "general":
                scores.append(q @ params["weight"] @ k)
            else:
                hidden = np.tanh(params["query_weight"] @ q + params["key_weight"] @ k
                                 + params["bias"])
                scores.append(params["v"] @ hidden)
        scores = np.exp(np.array(scores) - max(scores))
        weights[b, :lengths[b]] = scores / scores.sum()
        context[b] = weights[b, :lengths[b]] @ keys[:lengths[b], b]
    return context, weights


def call(method, query, keys, params, **memory):
    if method == "dot":
        return F.dot_attention(query, keys, **memory)
    if method == "general":
        return F.general_attention(query, keys, params["weight"], **memory)
    return F.additive_attention(query, keys, params["query_weight"], params["key_weight"],
                                params["v"], params["bias"], **memory)


def random_params(rng, query_size, key_size, attention_size=3):
    return {"weight": rng.standard_normal((query_size, key_size)),
            "query_weight": rng.standard_normal((attention_size, query_size)),
            "key_weight": rng.standard_normal((attention_size, key_size)),
            "v": rng.standard_normal(attention_size), "bias": rng.standard_normal(attention_size)}


@st.composite
def attention_problems(draw, method):
    steps, batch = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    key_size = draw(st.integers(1, 3))
    query_size = key_size if method == "dot" else draw(st.integers(1, 3))
    query = draw(float_arrays((batch, query_size), min_value=-2, max_value=2))
    keys = draw(float_arrays((steps, batch, key_size), min_value=-2, max_value=2))
    lengths = np.array(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
    params = {name: draw(float_arrays(value.shape, min_value=-2, max_value=2))
              for name, value in random_params(np.random.default_rng(0), query_size,
                                               key_size).items()}
    return query, keys, lengths, params


@pytest.mark.parametrize("method", METHODS)
def test_matches_the_equations_written_with_loops(method):
    rng = np.random.default_rng(1)
    query, keys = rng.standard_normal((3, 4)), rng.standard_normal((5, 3, 4))
    lengths = np.array([5, 1, 3])
    params = random_params(rng, 4, 4)
    context, weights = call(method, query, keys, params, lengths=lengths)
    want_context, want_weights = reference(method, query, keys, lengths, params)
    np.testing.assert_allclose(weights.data, want_weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(context.data, want_context, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=15)
@given(data=st.data())
def test_gradients_match_central_differences_with_masks(method, data):
    query, keys, lengths, params = data.draw(attention_problems(method))
    names = {"dot": [], "general": ["weight"],
             "additive": ["query_weight", "key_weight", "v", "bias"]}[method]

    def fn(query, keys, *values):
        return call(method, query, keys, dict(zip(names, values)), lengths=lengths)

    gradcheck(fn, [query, keys] + [params[name] for name in names])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_gets_exactly_zero_weight_and_no_influence(method, dtype):
    rng = np.random.default_rng(2)
    attention = nn.Attention(4, 4, method=method, dtype=dtype, rng=0)
    query = rng.standard_normal((3, 4)).astype(dtype)
    keys = rng.standard_normal((6, 3, 4)).astype(dtype)
    lengths = np.array([2, 6, 1])
    context, weights = attention(query, keys, lengths=lengths)
    padded = np.arange(6)[None, :] >= lengths[:, None]
    assert np.all(weights.data[padded] == 0.0)
    np.testing.assert_allclose(weights.data.sum(axis=1), 1.0, rtol=1e-6)
    for fill in (1e4, -1e4, np.nan, np.inf):
        changed = keys.copy()
        changed[padded.T] = fill
        other_context, other_weights = attention(query, changed, lengths=lengths)
        np.testing.assert_array_equal(other_weights.data, weights.data)
        np.testing.assert_array_equal(other_context.data, context.data)


@pytest.mark.parametrize("method", METHODS)
def test_padded_positions_get_zero_gradient_and_parameters_stay_finite(method):
    rng = np.random.default_rng(3)
    attention = nn.Attention(3, 4, method="general" if method == "dot" else method,
                             dtype=np.float64, rng=0)
    keys = numrnn.tensor(rng.standard_normal((5, 2, 4)), requires_grad=True)
    keys.data[3:, 0] = np.nan  # row 0 has 3 real positions; NaN must not leak
    values = numrnn.tensor(rng.standard_normal((5, 2, 2)), requires_grad=True)
    context, weights = attention(rng.standard_normal((2, 3)), keys, lengths=[3, 5],
                                 values=values)
    (F.sum(context * context) + F.sum(weights * weights)).backward()
    assert np.all(keys.grad[3:, 0] == 0) and np.all(values.grad[3:, 0] == 0)
    assert np.abs(keys.grad[:3]).sum() > 0 and np.abs(values.grad[:3]).sum() > 0
    for param in attention.parameters():
        assert np.all(np.isfinite(param.grad))


@pytest.mark.parametrize("method", METHODS)
def test_mask_lengths_and_batch_first_agree(method):
    rng = np.random.default_rng(4)
    attention = nn.Attention(4, 4, method=method, dtype=np.float64, rng=0)
    batch_first = nn.Attention(4, 4, method=method, batch_first=True, dtype=np.float64)
    batch_first.load_state_dict(attention.state_dict())
    query, keys = rng.standard_normal((3, 4)), rng.standard_normal((5, 3, 4))
    lengths = np.array([5, 2, 4])
    mask = np.arange(5)[:, None] < lengths[None, :]
    by_lengths = attention(query, keys, lengths=lengths)
    by_mask = attention(query, keys, mask=mask)
    by_row = batch_first(query, keys.transpose(1, 0, 2), mask=mask.T)
    for got in (by_mask, by_row):
        for a, b in zip(got, by_lengths):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-13)


def test_separate_values_are_averaged_with_the_key_weights():
    rng = np.random.default_rng(5)
    query, keys = rng.standard_normal((2, 3)), rng.standard_normal((4, 2, 3))
    values = rng.standard_normal((4, 2, 6))
    context, weights = F.dot_attention(query, keys, values=values, lengths=[4, 2])
    want = np.einsum("bs,sbh->bh", weights.data, values)
    np.testing.assert_allclose(context.data, want, rtol=1e-12)


def test_prepared_memory_is_reused_and_selects_rows():
    rng = np.random.default_rng(6)
    attention = nn.Attention(3, 4, method="additive", attention_size=5, dtype=np.float64, rng=0)
    keys, query = rng.standard_normal((4, 2, 4)), rng.standard_normal((2, 3))
    memory = attention.prepare(keys, lengths=[4, 2])
    assert memory.projected_keys.shape == (2, 4, 5) and memory.mask.shape == (2, 4)
    direct = attention(query, keys, lengths=[4, 2])
    stepped = attention.attend(query, memory)
    np.testing.assert_array_equal(direct[1].data, stepped[1].data)
    repeated = memory.select([1, 1, 0])
    context, weights = attention.attend(query[[1, 1, 0]], repeated)
    np.testing.assert_allclose(weights.data, direct[1].data[[1, 1, 0]], rtol=1e-13)


@pytest.mark.parametrize("method", ["general", "additive"])
def test_layer_parameter_gradients_match_central_differences(method):
    rng = np.random.default_rng(7)
    attention = nn.Attention(2, 3, method=method, dtype=np.float64, rng=0)
    gradcheck_module(attention, [rng.standard_normal((2, 2)), rng.standard_normal((3, 2, 3))],
                     call=lambda module, q, k: module(q, k, lengths=[2, 3]))


def test_masked_softmax_is_exact_and_refuses_empty_rows():
    scores = numrnn.tensor([[1000.0, 1.0, -5.0], [0.0, 0.0, 0.0]])
    weights = F.masked_softmax(scores, np.array([[True, False, True], [False, True, False]]))
    np.testing.assert_array_equal(weights.data, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ShapeError, match="at least one unmasked"):
        F.masked_softmax(scores, np.array([[True, True, True], [False, False, False]]))


def test_errors_name_what_is_wrong():
    rng = np.random.default_rng(8)
    query, keys = rng.standard_normal((2, 3)), rng.standard_normal((4, 2, 3))
    with pytest.raises(ArgumentError, match="query_size == key_size"):
        nn.Attention(3, 4, method="dot")
    with pytest.raises(ArgumentError, match="method must be one of"):
        nn.Attention(3, 3, method="cosine")
    with pytest.raises(ArgumentError, match="not both"):
        F.dot_attention(query, keys, mask=np.ones((4, 2), bool), lengths=[1, 1])
    with pytest.raises(ShapeError, match="every length must be in 1..4"):
        F.dot_attention(query, keys, lengths=[0, 4])
    with pytest.raises(ShapeError, match=r"mask must have shape \(4, 2\)"):
        F.dot_attention(query, keys, mask=np.ones((2, 4), bool))
    with pytest.raises(ShapeError, match="at least one unmasked"):
        F.dot_attention(query, keys, mask=np.array([[True, False]] * 4))
    with pytest.raises(ShapeError, match=r"query must have shape \(2, 3\)"):
        F.dot_attention(query[:1], keys)
    with pytest.raises(ShapeError, match="key feature size must be 5"):
        nn.Attention(3, 5, dtype=np.float64)(query, keys)
    with pytest.raises(DTypeError, match="keys must have dtype float32"):
        nn.Attention(3, 3)(query, keys)


def test_repr_and_config_round_trip(tmp_path):
    attention = nn.Attention(4, 6, method="additive", attention_size=5, rng=0)
    assert repr(attention) == "Attention(4, 6, method='additive', attention_size=5)"
    numrnn.save(attention, tmp_path / "attention.safetensors")
    restored = numrnn.load_model(tmp_path / "attention.safetensors")
    assert restored.get_config() == attention.get_config()
    for (name, a), (other, b) in zip(attention.named_parameters(), restored.named_parameters()):
        assert name == other
        np.testing.assert_array_equal(a.data, b.data)
