"""Gradient clipping: rescale (by norm) or clamp (by value) ``.grad`` in place.

Recurrent networks are prone to exploding gradients; clipping the global norm
before ``optimizer.step()`` is the standard remedy (Pascanu et al., 2013).
"""

import math

import numpy as np

from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, GradError, ShapeError


def _grads_of(name, parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for param in parameters:
        if not isinstance(param, Tensor):
            raise DTypeError(f"{name}: parameters must be Tensors, got {type(param).__name__}")
        if param.grad is not None:
            grads.append(param.grad)
    return grads


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The joint norm is that of all gradients concatenated into one vector. When
    it exceeds ``max_norm``, every ``.grad`` is multiplied in place by
    ``max_norm / (norm + 1e-6)``; otherwise nothing changes. Parameters whose
    ``.grad`` is None are ignored.

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
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ShapeError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    if not grads:
        return 0.0
    # Each gradient's norm, then the norm of those norms: equal to the norm of
    # everything concatenated, without building the concatenation.
    # Accumulated in float64 so float32 gradients with many elements lose nothing.
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    else:
        norms = [np.linalg.norm(np.asarray(g, dtype=np.float64).ravel(), ord=norm_type)
                 for g in grads]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise GradError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
                        f"{total}; pass error_if_nonfinite=False to clip anyway")
    clip_coef = max_norm / (total + 1e-6)
    if clip_coef < 1.0:
        for grad in grads:
            grad *= clip_coef
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
    clip_value : float
        Must be >= 0.
    """
    if not clip_value >= 0:
        raise ShapeError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for grad in _grads_of("clip_grad_value_", parameters):
        np.clip(grad, -clip_value, clip_value, out=grad)
