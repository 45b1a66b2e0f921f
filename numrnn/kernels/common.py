"""Scalar helpers the fused recurrent kernels share (GRU, Elman, LSTM).

Everything here is a small ``@kernel`` function that Numba inlines into the
callers' loops; nothing allocates.
"""

import math

from numrnn.kernels.jit import kernel

# Below this many gate elements per step (batch x hidden) a parallel region
# costs more to start than the elementwise work it splits; rows then run
# serially. Each row's arithmetic is the same either way, so the results are
# bit-identical on both paths and for any thread count.
PARALLEL_MIN_ELEMENTS = 4096


@kernel
def sigmoid(x):
    """Logistic sigmoid without overflow: only ``exp(-|x|)`` is ever computed."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@kernel
def time_index(step, length, reverse):
    """Sequence position a row of ``length`` valid steps visits at recurrence ``step``.

    Forward rows visit ``0 .. length - 1``; reverse rows visit ``length - 1 .. 0``,
    so a padded row runs over its own valid part only, as PyTorch's reverse
    direction does on a packed sequence. Callers only ask for ``step < length``.
    """
    if reverse:
        return length - 1 - step
    return step
