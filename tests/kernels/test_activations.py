"""The gate activations: float32 error bounds, saturation, NaN, and vector code.

Bounds come from the exhaustive scan of ``perf/activation_error.py`` over every
float32 input (tanh: max |error| 3.0e-7, max relative error 3.9e-7; sigmoid:
max |error| 1.7e-7), asserted here with margin on a dense sample of 4.2 million
inputs (every 255th float32 below 16, plus the regions around the worst cases):
tanh |error| ≤ 4e-7 and relative error ≤ 5e-7, sigmoid |error| ≤ 2.5e-7.
float64 must be libm itself.
"""

import math

import numba
import numpy as np
import pytest

from numrnn.kernels.activations import sigmoid, tanh, typed

TANH_ABS, TANH_REL, SIGMOID_ABS = 4e-7, 5e-7, 2.5e-7


@numba.njit(error_model="numpy")
def _apply(values, which):
    out = np.empty_like(values)
    for k in range(values.size):
        out[k] = tanh(values[k]) if which == 0 else sigmoid(values[k])
    return out


def _sample():
    below_16 = np.arange(0, 0x41800000, 255, dtype=np.uint32).view(np.float32)
    near_worst = np.concatenate([np.linspace(a, b, 100_001, dtype=np.float32)
                                 for a, b in ((3.6, 3.9), (0.1, 0.2), (7.9, 8.1))])
    positive = np.concatenate([below_16, near_worst])
    return np.concatenate([positive, -positive])


SAMPLE = _sample()


def _exact_sigmoid(x):
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))),
                    np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def test_float32_tanh_error_bound():
    got = _apply(SAMPLE, 0).astype(np.float64)
    want = np.tanh(SAMPLE.astype(np.float64))
    error = np.abs(got - want)
    assert error.max() <= TANH_ABS
    nonzero = want != 0
    assert (error[nonzero] / np.abs(want[nonzero])).max() <= TANH_REL


def test_float32_sigmoid_error_bound():
    got = _apply(SAMPLE, 1).astype(np.float64)
    assert np.abs(got - _exact_sigmoid(SAMPLE.astype(np.float64))).max() <= SIGMOID_ABS


def test_float32_results_stay_float32():
    values = np.linspace(-3, 3, 11, dtype=np.float32)
    assert _apply(values, 0).dtype == np.float32
    assert isinstance(typed(1.0, np.float32(0.0)), np.float32)


def test_saturation_is_exact_and_nan_passes_through():
    big = np.array([9.5, 20.0, 1e4, 3e38, np.inf], dtype=np.float32)
    values = np.concatenate([big, -big, [np.nan, 0.0, -0.0]]).astype(np.float32)
    t, s = _apply(values, 0), _apply(values, 1)
    n = big.size
    assert (t[:n] == 1.0).all() and (t[n:2 * n] == -1.0).all()
    assert s[n // 2:n].tolist() == [1.0] * (n - n // 2)  # 1e4 and up: exactly 1
    assert (s[n + n // 2:2 * n] == 0.0).all()
    assert math.isnan(t[2 * n]) and math.isnan(s[2 * n])
    assert t[2 * n + 1] == 0.0 and np.signbit(t[2 * n + 2]) and s[2 * n + 1] == 0.5
    finite = ~np.isnan(t)
    assert (np.abs(t[finite]) <= 1.0).all() and (s[finite] >= 0.0).all()


def test_tanh_is_exactly_odd():
    positive = SAMPLE[SAMPLE > 0]
    np.testing.assert_array_equal(_apply(-positive, 0), -_apply(positive, 0))


def test_monotone_up_to_rounding():
    # Rounding in P/Q makes adjacent inputs step back now and then (by up to
    # 6 ulp, 3.6e-7, in a scan of every 7th float32 up to 10), never by more than
    # the error bound allows, and never at all over input steps of 1e-2 while the
    # function still moves by more than that (|x| < 4 for tanh, < 8 for sigmoid).
    fine = np.arange(0x3C000000, 0x41200000, 97, dtype=np.uint32).view(np.float32)
    for which, bound, reach in ((0, TANH_ABS, 4), (1, SIGMOID_ABS, 8)):
        out = _apply(fine, which)
        assert np.maximum(out[:-1] - out[1:], 0).max() <= 2 * bound
        coarse = _apply(np.arange(-reach, reach, 1e-2, dtype=np.float32), which)
        assert (np.diff(coarse) > 0).all()


def test_float64_is_libm():
    values = np.linspace(-30, 30, 10_001)
    # np.tanh and libm may differ in the last bit; anything approximate would not.
    np.testing.assert_allclose(_apply(values, 0), np.tanh(values), rtol=5e-16, atol=0)
    np.testing.assert_allclose(_apply(values, 1), _exact_sigmoid(values), rtol=1e-15,
                               atol=0)


@pytest.mark.parametrize("which", [0, 1])
def test_float32_loop_compiles_to_packed_ymm_code(which):
    @numba.njit(error_model="numpy")
    def loop(values, out):
        for k in range(values.size):
            out[k] = tanh(values[k]) if which == 0 else sigmoid(values[k])

    values = np.linspace(-3, 3, 64, dtype=np.float32)
    loop(values, np.empty_like(values))
    asm = loop.inspect_asm(loop.signatures[0])
    assert "vdivps" in asm and "ymm" in asm
    assert "tanhf" not in asm and "expf" not in asm
