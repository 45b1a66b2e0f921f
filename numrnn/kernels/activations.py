"""Gate activations for the fused kernels: fast in float32, exact in float64.

``tanh(x)`` and ``sigmoid(x)`` are called from inside the kernels' gate loops
and resolve by argument type when the kernel compiles:

- float64 keeps libm's ``math.tanh`` and an overflow-free exact sigmoid, so the
  gradient checks (all in float64) see true derivatives.
- float32 uses a [13/6] rational approximation of tanh (Eigen's coefficients)::

      tanh(x) ≈ x · P(x²) / Q(x²)   for |x| ≤ 9,   ±1 beyond,   x for |x| < 4e-4
      sigmoid(x) = 0.5 + 0.5 · tanh(x / 2)

  The llvmlite wheels carry no SVML, so ``math.tanh``/``math.exp`` stay scalar
  libm calls (2–3 ns per element); this compiles to packed ``ymm`` code with
  no branch and no call (about 0.3 ns per element, DESIGN.md).

Measured error of the float32 versions against float64 libm, over every
float32 input (``python perf/activation_error.py``, about 5 minutes)::

    tanh:     max |error| 3.0e-7 (at x = 3.74), max relative error 3.9e-7
    sigmoid:  max |error| 1.7e-7 (at x = 8.0)

Both reach exactly ±1 (tanh) and 0/1 (sigmoid) for large inputs and ±inf, are
exact at 0 (tanh(±0) = ±0, sigmoid(0) = 0.5), pass NaN through, and
``tanh(-x) == -tanh(x)`` bit for bit. They are monotone only up to rounding:
adjacent float32 inputs can step back by a few ulp (at most 3.6e-7 seen;
``tests/kernels/test_activations.py`` bounds the step). sigmoid's *relative* error grows in the
far negative tail (it is resolved to 1.7e-7 absolute, so sigmoid(-18) = 1.5e-8
may come out as 0 or 1.2e-7): harmless for gates, which multiply O(1) terms.

The fast math flags leave out ``nnan``/``ninf``: with them LLVM may assume no
NaN/inf reach the code, and the saturation and NaN behaviour above would be
undefined. ``error_model="numpy"`` drops the zero-division branch that stops
vectorisation (Q ≥ 4.9e-3 never vanishes).

``typed(value, like)`` casts a Python constant to ``like``'s float type (``like``
a float or an array of floats): numba types a bare ``1.0`` as float64, and
``1.0 - z`` with a float32 ``z`` would run the whole gate expression in float64
(half the SIMD width).
"""

import math

import numpy as np
from numba.core import types
from numba.extending import overload

from numrnn.kernels.jit import OVERLOAD_OPTIONS, jit, kernel

FAST_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

_f32 = np.float32
# Numerator x·(a1 + a3 x² + ... + a13 x¹²) and denominator b0 + b2 x² + ... + b6 x⁶.
_A1, _A3, _A5 = _f32(4.89352455891786e-03), _f32(6.37261928875436e-04), _f32(1.48572235717979e-05)
_A7, _A9 = _f32(5.12229709037114e-08), _f32(-8.60467152213735e-11)
_A11, _A13 = _f32(2.00018790482477e-13), _f32(-2.76076847742355e-16)
_B0, _B2 = _f32(4.89352518554385e-03), _f32(2.26843463243900e-03)
_B4, _B6 = _f32(1.18534705686654e-04), _f32(1.19825839466702e-06)
# Past 9, float32 tanh rounds to ±1 (1 - tanh(9) = 3.0e-8, half an ulp below 1).
_CLAMP = _f32(9.0)
# Below this, x itself is tanh(x) to float32 precision (x³/3 < half an ulp of x).
_TINY = _f32(4e-4)
_ONE, _HALF = _f32(1.0), _f32(0.5)


@jit(fastmath=FAST_MATH, linked_only=True, python_callable=True)
def rational_tanh32(x):
    """float32 tanh as a branch-free rational; see the module docstring for its error."""
    # Written as selects, not min/max: a NaN compares false and passes straight through.
    clamped = _CLAMP if x > _CLAMP else x
    clamped = -_CLAMP if clamped < -_CLAMP else clamped
    x2 = clamped * clamped
    p = _A13
    p = p * x2 + _A11
    p = p * x2 + _A9
    p = p * x2 + _A7
    p = p * x2 + _A5
    p = p * x2 + _A3
    p = p * x2 + _A1
    p = p * clamped
    q = _B6
    q = q * x2 + _B4
    q = q * x2 + _B2
    q = q * x2 + _B0
    y = p / q
    y = _ONE if y > _ONE else y
    y = -_ONE if y < -_ONE else y
    return x if abs(x) < _TINY else y


@jit(fastmath=FAST_MATH, linked_only=True, python_callable=True)
def rational_sigmoid32(x):
    """float32 ``0.5 + 0.5 tanh(x/2)``: exactly 0 and 1 at the ends, no exp, no branch."""
    return _HALF + _HALF * rational_tanh32(_HALF * x)


@kernel
def exact_sigmoid(x):
    """Logistic sigmoid without overflow: only ``exp(-|x|)`` is ever computed."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _is_float32(x):
    return isinstance(x, types.Float) and x.bitwidth == 32


def tanh(x):
    """Gate tanh: rational in float32, libm in float64 (see module docstring)."""
    if isinstance(x, np.float32):
        return rational_tanh32(x)
    return math.tanh(x)


def sigmoid(x):
    """Gate sigmoid: ``0.5 + 0.5 tanh(x/2)`` in float32, exact in float64."""
    if isinstance(x, np.float32):
        return rational_sigmoid32(x)
    return exact_sigmoid(x)


def typed(value, like):
    """``value`` as a scalar of ``like``'s float type; ``like`` is a float or an array."""
    return (like.dtype.type if isinstance(like, np.ndarray) else type(like))(value)


@overload(tanh, jit_options=OVERLOAD_OPTIONS)
def _tanh_impl(x):
    if _is_float32(x):
        return lambda x: rational_tanh32(x)
    return lambda x: math.tanh(x)


@overload(sigmoid, jit_options=OVERLOAD_OPTIONS)
def _sigmoid_impl(x):
    if _is_float32(x):
        return lambda x: rational_sigmoid32(x)
    return lambda x: exact_sigmoid(x)


@overload(typed, jit_options=OVERLOAD_OPTIONS)
def _typed_impl(value, like):
    if _is_float32(like.dtype if isinstance(like, types.Array) else like):
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)
