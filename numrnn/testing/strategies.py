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
    elements = st.floats(min_value=min_value, max_value=max_value, allow_nan=False,
                         allow_infinity=False, width=width)
    if exclude_near is not None:
        elements = elements.filter(lambda v: abs(v - exclude_near) >= margin)
    return hnp.arrays(dtype=dtype, shape=shape, elements=elements)


@st.composite
def sequence_batches(draw, max_steps=6, max_batch=4, features=st.integers(1, 4),
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
