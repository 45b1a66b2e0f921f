"""Measure the float32 gate activations against float64 libm over every float32 input.

Run: ``python perf/activation_error.py``. Walks all 2³² bit patterns (about a
minute on 2 cores) and prints, for ``tanh`` and ``sigmoid`` of
:mod:`numrnn.kernels.activations`, the largest absolute and relative error,
the input where each occurs, how many adjacent-input pairs decrease
(monotonicity), and the values at ±inf, NaN and ±huge. The bounds asserted in
``tests/kernels/test_activations.py`` come from this run, with margin.
"""

import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import prange  # noqa: E402

from numrnn.kernels.activations import rational_sigmoid32, rational_tanh32  # noqa: E402


def _exact_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


_exact_sigmoid = numba.njit(_exact_sigmoid)


@numba.njit(parallel=True)
def _scan(which, start, stop, chunks, ascending):
    """Per chunk of bit patterns: max abs err, its input, max rel err, its input, and
    how often the output steps the wrong way (bit order ascends in x for positive
    patterns, descends for negative ones; a chunk's first step is not checked)."""
    stats = np.zeros((chunks, 5))
    width = (stop - start) // chunks
    for c in prange(chunks):
        lo = start + c * width
        hi = stop if c == chunks - 1 else lo + width
        worst_abs = worst_rel = 0.0
        at_abs = at_rel = 0.0
        non_monotone = 0
        previous = np.nan
        bits = np.empty(1, dtype=np.uint32)
        for pattern in range(lo, hi):
            bits[0] = pattern
            x = bits.view(np.float32)[0]
            if math.isnan(x):
                continue
            if which == 0:
                got = float(rational_tanh32(x))
                want = math.tanh(float(x))
            else:
                got = float(rational_sigmoid32(x))
                want = _exact_sigmoid(float(x))
            err = abs(got - want)
            if err > worst_abs:
                worst_abs, at_abs = err, x
            if want != 0.0 and err / abs(want) > worst_rel:
                worst_rel, at_rel = err / abs(want), x
            if (got < previous) if ascending else (got > previous):
                non_monotone += 1
            previous = got
        stats[c, 0], stats[c, 1], stats[c, 2], stats[c, 3] = worst_abs, at_abs, worst_rel, at_rel
        stats[c, 4] = non_monotone
    return stats


def main():
    # Positive floats ascend with their bit patterns 0..0x7f800000 (+inf); by the
    # exact oddness of tanh (checked in the tests) the negative half mirrors it.
    for name, which in (("tanh", 0), ("sigmoid", 1)):
        ranges = [(0, 0x7F800001)]
        if which == 1:
            ranges.append((0x80000000, 0xFF800001))  # sigmoid is not odd: scan negatives too
        for lo, hi in ranges:
            stats = _scan(which, lo, hi, 64, lo == 0)
            i_abs, i_rel = stats[:, 0].argmax(), stats[:, 2].argmax()
            sign = "+" if lo == 0 else "-"
            print(f"{name} ({sign}): max abs err {stats[i_abs, 0]:.3e} at x={stats[i_abs, 1]:.6g}; "
                  f"max rel err {stats[i_rel, 2]:.3e} at x={stats[i_rel, 3]:.6g}; "
                  f"non-monotone steps {int(stats[:, 4].sum())}")
    specials = np.array([np.inf, -np.inf, np.nan, 3e38, -3e38, 9.0, -9.0, 0.0, -0.0],
                        dtype=np.float32)
    for x in specials:
        print(f"x={x!r:>12}: tanh={rational_tanh32(x)!r}, sigmoid={rational_sigmoid32(x)!r}")


if __name__ == "__main__":
    main()
