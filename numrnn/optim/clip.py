"""Gradient clipping: rescale (by norm) or clamp (by value) ``.grad`` in place.

Recurrent networks are prone to exploding gradients; clipping the global norm
before ``optimizer.step()`` is the standard remedy (Pascanu et al., 2013).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, ArgumentTypeError, GradError
from numrnn.kernels.blas_threads import single_threaded_kernel_blas

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from numrnn.typing import TensorLike


def _grads_of(name, parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for param in parameters:
        if not isinstance(param, Tensor):
            raise ArgumentTypeError(f"{name}: parameters must be Tensors, "
                                    f"got {type(param).__name__}")
        if param.grad is not None:
            grads.append(param.grad)
    return grads


def get_total_norm(tensors: Sequence[TensorLike], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> float:
    """The joint ``norm_type``-norm of ``tensors`` (arrays or Tensors), as one vector.

    What :func:`clip_grad_norm_` compares with ``max_norm``, without clipping:
    ``get_total_norm([p.grad for p in params if p.grad is not None])``, as
    ``torch.nn.utils.get_total_norm``. Any NaN element makes it NaN, any infinite
    one (and no NaN) inf. 0.0 for no tensors. Unlike PyTorch's, it is summed in
    float64 whatever the dtype, so finite float32 elements always give a finite
    norm (PyTorch's float32 sum of squares overflows past about 1.8e19 per element).

    Parameters
    ----------
    tensors : ndarray, Tensor, or iterable of them
    norm_type : float, default 2.0
        The p of the p-norm; ``float("inf")`` for the largest absolute value.
    error_if_nonfinite : bool, default False
        Raise :class:`~numrnn.errors.GradError` when the norm is NaN or inf.

    Returns
    -------
    float
    """
    if isinstance(tensors, (Tensor, np.ndarray)):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    return _total_norm("get_total_norm", arrays, norm_type, error_if_nonfinite)


def _total_norm(op, arrays, norm_type, error_if_nonfinite):
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ArgumentError(f"{op}: norm_type must be > 0 or inf, got {norm_type}")
    if not arrays:
        return 0.0
    # Each array's norm, then the norm of those norms: equal to the norm of
    # everything concatenated, without building the concatenation.
    # Accumulated in float64 so float32 gradients with many elements lose nothing.
    if math.isinf(norm_type):
        # NOTE: np.max, not Python's max, whose comparisons skip a NaN after the first item.
        norms = [np.max(np.abs(a), initial=0.0) for a in arrays]
        total = float(np.max(np.array(norms, dtype=np.float64)))
    else:
        # The 2-norm of a vector is a BLAS dot product, which OpenBLAS splits over its
        # threads past 10000 elements: the sum then depended on the thread count in
        # its last bits, and the woken threads spun on, busy-waiting for more work,
        # through the next training step (on 2 cores a 16384-weight LSTM matrix made
        # the adding problem's step take the second core from numrnn's own kernels).
        # One thread gives every count the same norm, and wakes nothing.
        with single_threaded_kernel_blas():
            norms = [_norm(np.asarray(a, dtype=np.float64).ravel(), norm_type) for a in arrays]
        total = _norm(np.array(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise GradError(f"{op}: the total {norm_type}-norm of the gradients is {total}; "
                        "pass error_if_nonfinite=False to go on anyway")
    return total


def _norm(vector, norm_type):
    """The ``norm_type``-norm of a 1-D float64 array, as ``np.linalg.norm`` gives it."""
    if norm_type == 2.0:
        # NOTE: np.linalg.norm's own path for a vector's 2-norm, sqrt(x·x) (both roundings
        # IEEE's, so the same bits), without its checks: a fifth of clipping's time at
        # the adding problem's six small gradients.
        return math.sqrt(vector.dot(vector))
    return float(np.linalg.norm(vector, ord=norm_type))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The joint norm is that of all gradients concatenated into one vector
    (:func:`get_total_norm`). Every ``.grad`` is multiplied in place by
    ``min(max_norm / (norm + 1e-6), 1)``, as PyTorch does; parameters whose
    ``.grad`` is None are ignored. A non-finite norm follows PyTorch too: an
    infinite one scales by 0 (finite entries become 0, infinite ones NaN), a
    NaN one makes every gradient NaN.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        E.g. ``model.parameters()``.
    max_norm : float
    norm_type : float, default 2.0
        The p of the p-norm; ``float("inf")`` for the largest absolute value.
    error_if_nonfinite : bool, default False
        Raise :class:`~numrnn.errors.GradError` when the norm is nan or inf
        (the gradients are then left as they are).

    Returns
    -------
    float
        The joint norm before clipping (0.0 when no parameter has a gradient).
    """
    grads = _grads_of("clip_grad_norm_", parameters)
    total = _total_norm("clip_grad_norm_", grads, norm_type, error_if_nonfinite)
    _scale(grads, max_norm, total)
    return total


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: float) -> None:
    """The scaling of :func:`clip_grad_norm_` with the norm already computed.

    For a loop that needs the norm itself first (to check it, to log it):
    ``norm = get_total_norm(grads)`` then ``clip_grads_with_norm_(params, max_norm,
    norm)`` does what ``clip_grad_norm_(params, max_norm)`` does, with one pass
    over the gradients instead of two. As ``torch.nn.utils.clip_grads_with_norm_``.
    """
    _scale(_grads_of("clip_grads_with_norm_", parameters), max_norm, float(total_norm))


def _scale(grads, max_norm, total):
    clip_coef = max_norm / (total + 1e-6)
    # Multiplying by a coefficient clamped to 1 changes nothing, so only a smaller one
    # is applied; "not >=" also applies a NaN one, as torch.clamp passes NaN through.
    if not clip_coef >= 1.0:
        # An infinite norm scales by 0, and inf * 0 is the NaN PyTorch gives: not worth
        # numpy's warning.
        with np.errstate(invalid="ignore"):
            for grad in grads:
                grad *= clip_coef


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
    clip_value : float
        Must be >= 0.
    """
    if not clip_value >= 0:
        raise ArgumentError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for grad in _grads_of("clip_grad_value_", parameters):
        np.clip(grad, -clip_value, clip_value, out=grad)
