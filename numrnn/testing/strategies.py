"""Hypothesis strategies for numrnn's property tests (requires ``hypothesis``).

Element magnitudes are bounded (±3 by default) because central differences on
saturating functions lose accuracy far from the origin.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=1, max_dims=3, min_side=1, max_side=4):
    """Array shapes, size-1 dimensions included."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Pairs of shapes that broadcast together (one side may have fewer or size-1 dims)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda result: tuple(result.input_shapes))


def float_arrays(shape, dtype=np.float64, min_value=-3.0, max_value=3.0, exclude_near=None,
                 margin=1e-3):
    """Finite float arrays of ``shape`` in [min_value, max_value].

    float32 elements are drawn with ``width=32`` so they are exactly representable.
    ``exclude_near`` (a number) keeps every element at least ``margin`` away from
    it, for functions with a kink there (abs, relu at 0).
    """
    width = 32 if np.dtype(dtype) == np.float32 else 64
    if width == 32:
        # Hypothesis refuses float32 bounds that are not exactly representable
        # (0.1, say); use the nearest float32 values inside the range instead.
        min_value = float(_float32_inside(min_value, np.inf))
        max_value = float(_float32_inside(max_value, -np.inf))
    elements = st.floats(min_value=min_value, max_value=max_value, allow_nan=False,
                         allow_infinity=False, width=width)
    if exclude_near is not None:
        elements = elements.filter(lambda v: abs(v - exclude_near) >= margin)
    return hnp.arrays(dtype=dtype, shape=shape, elements=elements)


def _float32_inside(bound, toward):
    """The float32 nearest ``bound``, moved one step toward ``toward`` if it fell outside."""
    nearest = np.float32(bound)
    if nearest != bound and (nearest < bound) == (toward > bound):
        nearest = np.nextafter(nearest, np.float32(toward))
    return nearest


def axis(ndim):
    """One valid axis of an ``ndim``-dimensional array, negative ones included."""
    return st.integers(-ndim, ndim - 1)


def reduction_axes(ndim):
    """``axis`` arguments a reduction accepts: None, one axis, or a tuple of distinct axes.

    Tuples may mix negative and positive spellings and come in any order.
    """
    tuples = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).flatmap(
        lambda picked: st.tuples(*(st.sampled_from([a, a - ndim]) for a in picked))
    )
    return st.one_of(st.none(), axis(ndim), tuples) if ndim else st.none()


@st.composite
def distinct_float_arrays(draw, shape, dtype=np.float64, spacing=0.1, jitter=0.03):
    """Arrays of ``shape`` whose elements all differ by at least ``spacing - 2 * jitter``.

    For ops with a kink where two entries tie (max, sorting): a random
    permutation of ``spacing``-apart levels, centred on 0, each moved by at most
    ``jitter``, so a finite-difference step never swaps two entries.
    """
    size = int(np.prod(shape, dtype=np.int64))
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    levels = (order - (size - 1) / 2) * spacing
    noise = draw(hnp.arrays(np.float64, (size,),
                            elements=st.floats(-jitter, jitter, allow_nan=False)))
    return (levels + noise).reshape(shape).astype(dtype)


@st.composite
# A strategy as a default is Hypothesis's idiom: strategies are immutable values.
def sequence_batches(draw, max_steps=6, max_batch=4, features=st.integers(1, 4),  # noqa: B008
                     dtype=np.float64, min_value=-2.0, max_value=2.0):
    """A time-major batch ``x`` of shape (T, B, I) with ``lengths`` in 1..T, one per row.

    At least one row has the full length T, as in any padded batch.
    """
    steps = draw(st.integers(1, max_steps))
    batch = draw(st.integers(1, max_batch))
    n_features = draw(features) if isinstance(features, st.SearchStrategy) else features
    x = draw(float_arrays((steps, batch, n_features), dtype, min_value, max_value))
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(1, steps)))
    lengths[draw(st.integers(0, batch - 1))] = steps
    return x, lengths
