"""reshape, transpose/permute, concatenate, stack and split against NumPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numrnn
from numrnn import functional as F
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from numrnn.testing import gradcheck
from numrnn.testing import strategies as S


@st.composite
def reshape_case(draw, dtype=np.float64):
    shape = draw(S.shapes(min_dims=0, max_dims=3, max_side=3))
    size = int(np.prod(shape, dtype=np.int64))
    target = draw(st.sampled_from([
        tuple(reversed(shape)), (size,), (-1,), (1, *shape), (*shape, 1), (1, -1, 1),
    ]))
    return draw(S.float_arrays(shape, dtype)), target


@st.composite
def transpose_case(draw, dtype=np.float64):
    shape = draw(S.shapes(min_dims=0, max_dims=3, max_side=3))
    ndim = len(shape)
    axes = draw(st.none() | st.permutations(range(ndim)).flatmap(
        lambda perm: st.tuples(*(st.sampled_from([a, a - ndim]) for a in perm))))
    return draw(S.float_arrays(shape, dtype)), axes


@st.composite
def concatenate_case(draw, dtype=np.float64):
    """1-3 arrays equal in every dimension except ``axis``, where each has 1-3 entries."""
    shape = draw(S.shapes(min_dims=1, max_dims=3, max_side=3))
    axis = draw(S.axis(len(shape)))
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        piece_shape = list(shape)
        piece_shape[axis] = draw(st.integers(1, 3))
        pieces.append(draw(S.float_arrays(tuple(piece_shape), dtype)))
    return pieces, axis


@st.composite
def stack_case(draw, dtype=np.float64):
    shape = draw(S.shapes(min_dims=0, max_dims=2, max_side=3))
    count = draw(st.integers(1, 3))
    pieces = [draw(S.float_arrays(shape, dtype)) for _ in range(count)]
    return pieces, draw(S.axis(len(shape) + 1))


@st.composite
def split_case(draw, dtype=np.float64):
    """Equal sections, or cut indices that may be unsorted, negative or past the end."""
    shape = draw(S.shapes(min_dims=1, max_dims=3, max_side=4))
    axis = draw(S.axis(len(shape)))
    size = shape[axis]
    divisors = [n for n in range(1, size + 1) if size % n == 0]
    cuts = st.lists(st.integers(-size, size + 1), max_size=3)
    how = draw(st.sampled_from(divisors) | cuts)
    return draw(S.float_arrays(shape, dtype)), how, axis


# name -> (case strategy, op on (tensor(s), static arg), numpy reference)
CASES = {
    "reshape": (reshape_case, lambda x, s: F.reshape(x, s), np.reshape),
    "transpose": (transpose_case, lambda x, a: F.transpose(x, a), np.transpose),
    "concatenate": (concatenate_case, lambda xs, a: F.concatenate(xs, axis=a),
                    lambda xs, a: np.concatenate(xs, axis=a)),
    "stack": (stack_case, lambda xs, a: F.stack(xs, axis=a), lambda xs, a: np.stack(xs, axis=a)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_forward_matches_numpy(name, data):
    strategy, op, reference = CASES[name]
    x, arg = data.draw(strategy())
    inputs = [numrnn.tensor(a) for a in x] if isinstance(x, list) else numrnn.tensor(x)
    np.testing.assert_array_equal(op(inputs, arg).data, reference(x, arg))


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    strategy, op, _ = CASES[name]
    x, arg = data.draw(strategy())
    if isinstance(x, list):
        gradcheck(lambda *ts: op(list(ts), arg), x)
    else:
        gradcheck(lambda t: op(t, arg), [x])


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_float32_gives_exactly_the_float64_result(name, data):
    strategy, op, _ = CASES[name]
    x32, arg = data.draw(strategy(np.float32))
    arrays = x32 if isinstance(x32, list) else [x32]
    t32 = [numrnn.tensor(a, requires_grad=True) for a in arrays]
    t64 = [numrnn.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    y32 = op(t32 if isinstance(x32, list) else t32[0], arg)
    y64 = op(t64 if isinstance(x32, list) else t64[0], arg)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32.data, y64.data.astype(np.float32))
    seed = np.linspace(-1.0, 1.0, y64.data.size).reshape(y64.shape)
    y32.backward(seed.astype(np.float32))
    y64.backward(seed)
    for a32, a64 in zip(t32, t64):
        assert a32.grad.dtype == np.float32
        np.testing.assert_array_equal(a32.grad, a64.grad.astype(np.float32))


@given(data=st.data())
def test_split_matches_numpy(data):
    x, how, axis = data.draw(split_case())
    pieces = F.split(numrnn.tensor(x), how, axis=axis)
    expected = np.split(x, how, axis=axis)
    assert isinstance(pieces, tuple) and len(pieces) == len(expected)
    for piece, want in zip(pieces, expected):
        np.testing.assert_array_equal(piece.data, want)


@given(data=st.data())
def test_split_gradient_matches_central_differences(data):
    x, how, axis = data.draw(split_case())
    gradcheck(lambda t: F.split(t, how, axis=axis), [x])


@given(data=st.data())
def test_split_float32_agrees_with_float64(data):
    x32, how, axis = data.draw(split_case(np.float32))
    t32 = numrnn.tensor(x32, requires_grad=True)
    t64 = numrnn.tensor(x32.astype(np.float64), requires_grad=True)
    pieces32, pieces64 = F.split(t32, how, axis), F.split(t64, how, axis)
    for p32, p64 in zip(pieces32, pieces64):
        assert p32.dtype == np.float32
        np.testing.assert_array_equal(p32.data, p64.data.astype(np.float32))
    # Weight each piece differently so a gradient sent to the wrong piece shows.
    for pieces in (pieces32, pieces64):
        weighted = [F.reshape(p, -1) * float(k + 1) for k, p in enumerate(pieces)]
        F.sum(F.concatenate(weighted)).backward()
    np.testing.assert_array_equal(t32.grad, t64.grad.astype(np.float32))


def test_unused_split_pieces_get_zero_gradient():
    x = numrnn.tensor(np.arange(6.0), requires_grad=True)
    first, _, third = F.split(x, 3)
    (first * 2 + third).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [2, 2, 0, 0, 1, 1])


def test_overlapping_split_pieces_accumulate():
    x = numrnn.tensor(np.arange(5.0), requires_grad=True)
    pieces = F.split(x, [3, 1])
    assert [p.shape for p in pieces] == [(3,), (0,), (4,)]
    F.sum(F.concatenate([pieces[0], pieces[2]])).backward()
    np.testing.assert_array_equal(x.grad, [1, 2, 2, 1, 1])


def test_tensor_methods_reshape_transpose_permute_and_T():
    data = np.arange(24.0).reshape(2, 3, 4)
    x = numrnn.tensor(data)
    np.testing.assert_array_equal(x.reshape(4, 6).data, data.reshape(4, 6))
    np.testing.assert_array_equal(x.reshape((-1, 4)).data, data.reshape(-1, 4))
    np.testing.assert_array_equal(x.transpose().data, data.T)
    np.testing.assert_array_equal(x.transpose(1, 0, 2).data, data.transpose(1, 0, 2))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, data.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.T.data, data.T)
    np.testing.assert_array_equal(F.permute(x, (-1, 0, 1)).data, data.transpose(2, 0, 1))


def test_permute_gradient_is_the_inverse_permutation():
    x = numrnn.tensor(np.zeros((2, 3, 4)), requires_grad=True)
    seed = np.arange(24.0).reshape(4, 2, 3)
    x.permute(2, 0, 1).backward(seed)
    np.testing.assert_array_equal(x.grad, seed.transpose(1, 2, 0))


def test_reshape_to_an_incompatible_size_names_both_shapes():
    x = numrnn.tensor(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"reshape: .* shape \(2, 3\) \(6 elements\) into shape "
                                         r"\(4,\)"):
        x.reshape(4)
    with pytest.raises(ShapeError, match=r"reshape: .*into shape \(4, -1\)"):
        x.reshape(4, -1)
    with pytest.raises(ShapeError, match=r"at most one -1, got \(-1, -1\)"):
        x.reshape(-1, -1)
    with pytest.raises(ArgumentTypeError,
                       match=r"reshape: shape must be an int or a sequence of ints"):
        F.reshape(x, (2.0, 3.0))


def test_bad_transpose_axes_are_refused():
    x = numrnn.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"transpose: axes must list all 3 dimensions .* got "
                                         r"\(1, 0\)"):
        x.transpose(1, 0)
    with pytest.raises(ShapeError, match=r"permutation of 0..2, got \(0, 1, -2\)"):
        x.permute(0, 1, -2)
    with pytest.raises(ShapeError, match=r"transpose: axis 3 is out of range"):
        x.permute(0, 1, 3)


def test_concatenate_of_mismatched_shapes_names_them():
    a, b = numrnn.tensor(np.ones((2, 3))), numrnn.tensor(np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"concatenate: tensor 1 has shape \(2, 4\) but tensor 0 "
                                         r"has shape \(2, 3\); all sizes except along axis 0"):
        F.concatenate([a, b], axis=0)
    np.testing.assert_array_equal(F.concatenate([a, b], axis=1).data, np.ones((2, 7)))
    with pytest.raises(ShapeError, match=r"concatenate: tensor 1 has shape \(3,\)"):
        F.concatenate([a, numrnn.tensor(np.ones(3))], axis=-1)
    with pytest.raises(ArgumentError, match="non-empty list or tuple of tensors, got \\[\\]"):
        F.concatenate([])
    with pytest.raises(ShapeError, match="0-dimensional tensors cannot be concatenated"):
        F.concatenate([numrnn.tensor(1.0), numrnn.tensor(2.0)])


def test_stack_of_mismatched_shapes_names_them():
    with pytest.raises(ShapeError, match=r"stack: .*got \(2,\) for tensor 0 and \(3,\) for "
                                         r"tensor 1"):
        F.stack([numrnn.tensor(np.ones(2)), numrnn.tensor(np.ones(3))])
    with pytest.raises(ShapeError, match=r"stack: axis 2 is out of range .* 2 dimension"):
        F.stack([numrnn.tensor(np.ones(2))], axis=2)


def test_split_into_unequal_sections_is_refused():
    with pytest.raises(ShapeError, match=r"split: axis 1 of size 5 cannot be cut into 2 equal "
                                         r"sections \(tensor shape \(2, 5\)\)"):
        F.split(numrnn.tensor(np.ones((2, 5))), 2, axis=1)
    with pytest.raises(ShapeError, match="cannot be cut into 0 equal sections"):
        F.split(numrnn.tensor(np.ones(4)), 0)


def test_mixing_float32_and_float64_pieces_raises():
    a = numrnn.tensor(np.ones(2, dtype=np.float32))
    b = numrnn.tensor(np.ones(2))
    with pytest.raises(DTypeError, match="float32 and float64"):
        F.concatenate([a, b])
    with pytest.raises(DTypeError, match="float32 and float64"):
        F.stack([a, b])


def test_only_pieces_that_need_it_get_a_gradient():
    a = numrnn.tensor(np.ones(2), requires_grad=True)
    b = numrnn.tensor(np.ones(3))
    F.concatenate([a, b]).backward(np.arange(5.0))
    np.testing.assert_array_equal(a.grad, [0.0, 1.0])
    assert b.grad is None
