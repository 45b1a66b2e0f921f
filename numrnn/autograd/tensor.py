"""The Tensor: an ndarray plus what backward needs to know about it.

A Tensor made by the user is a *leaf*; one returned by an op remembers the tape
node that produced it (``_node``) and which of that node's outputs it is
(``_output_index``). Gradients are accumulated into ``.grad`` of leaves that
have ``requires_grad=True``. Operators and methods delegate to the primitive
ops in :mod:`numrnn.autograd.ops`, so ``a * b`` and ``F.mul(a, b)`` are one rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.defaults import get_default_dtype
from numrnn.errors import ArgumentError, DTypeError, GradError, ShapeError

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.ops.selection import ValuesIndices
    from numrnn.typing import Axis, TensorLike, TensorOrArray

_FLOAT_KINDS = "f"


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Make one with :func:`numrnn.tensor`. ``float32`` and ``float64`` are both
    first-class; ops never upcast silently, and mixing the two raises
    :class:`~numrnn.errors.DTypeError`.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_output_index", "__weakref__")

    # Let NumPy defer to Tensor's reflected operators (``array * tensor``).
    __array_priority__ = 1000

    def __init__(self, data: npt.ArrayLike, requires_grad: bool = False) -> None:
        if not isinstance(data, np.ndarray):
            data = np.asarray(data)
        self.data = data
        self.grad = None
        self._node = None
        self._output_index = 0
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data, node, output_index):
        out = cls.__new__(cls)
        # NumPy turns 0-d results into scalars; keep .data an ndarray.
        out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        out.grad = None
        out._node = node
        out._output_index = output_index
        out._requires_grad = node is not None
        return out

    # -- metadata -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and self.data.dtype.kind not in _FLOAT_KINDS:
            raise DTypeError(
                f"only float32 or float64 tensors can require gradients, got {self.data.dtype}"
            )
        if not value and self._node is not None:
            raise GradError("requires_grad can only be switched off on a leaf; use .detach()")
        self._requires_grad = value

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> npt.NDArray[Any]:
        """The underlying ndarray (no copy)."""
        return self.data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data, requires_grad=False)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(
                f"item() needs a tensor with exactly one element, got shape {self.shape}"
            )
        return self.data.item()

    def backward(self, grad: TensorLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that needs it.

        ``grad`` seeds the walk and may be omitted only for a one-element output.
        Residuals are freed afterwards unless ``retain_graph=True``.
        """
        from numrnn.autograd.engine import backward

        backward(self, grad, retain_graph=retain_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        raise GradError(
            "the truth value of a Tensor is ambiguous; compare .data or use .item()"
        )

    # -- comparisons give bool Tensors; they are not differentiable -------------
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _compare("==", self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _compare("!=", self, other)

    def __lt__(self, other: TensorLike) -> Tensor:
        return _compare("<", self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return _compare("<=", self, other)

    def __gt__(self, other: TensorLike) -> Tensor:
        return _compare(">", self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return _compare(">=", self, other)

    __hash__ = object.__hash__

    # -- arithmetic -----------------------------------------------------------
    def __add__(self, other: TensorLike) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return _ops.div(other, self)

    def __matmul__(self, other: TensorOrArray) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: TensorOrArray) -> Tensor:
        return _ops.matmul(other, self)

    def __pow__(self, exponent: float) -> Tensor:
        return _ops.pow(self, exponent)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # -- method forms of the primitive ops -------------------------------------
    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        return _ops.clip(self, min, max)

    def sum(self, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Sum over ``axis`` (or PyTorch's ``dim``), as :func:`numrnn.functional.sum`."""
        return _ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
             keepdim: bool | None = None) -> Tensor:
        """Mean over ``axis`` (or PyTorch's ``dim``), as :func:`numrnn.functional.mean`."""
        return _ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def max(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
            keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """The largest entry, PyTorch's way or NumPy's.

        ``t.max()`` is a 0-d Tensor; ``t.max(dim)`` (or ``dim=``, with
        ``keepdim``) is ``(values, indices)`` along that axis, as
        ``torch.max``, the gradient reaching the first maximum of each row;
        ``t.max(axis=..., keepdims=...)`` is the values alone, over one axis or
        several, as ``np.max`` (:func:`numrnn.functional.max`; ties share
        the gradient).
        """
        return _extreme("max", _ops.max, _ops.max_with_indices, self, dim, keepdim, axis,
                        keepdims)

    def min(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
            keepdims: bool | None = None) -> Tensor | ValuesIndices:
        """The smallest entry; the same forms as :meth:`max`."""
        return _extreme("min", _ops.min, _ops.min_with_indices, self, dim, keepdim, axis,
                        keepdims)

    def argmax(self, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the largest entry along ``axis`` or ``dim`` (None: flattened), int64."""
        return _ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the smallest entry along ``axis`` or ``dim`` (None: flattened), int64."""
        return _ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def reshape(self, *shape: int) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def view(self, *shape: int) -> Tensor:
        """``reshape`` under PyTorch's name.

        Unlike ``torch.Tensor.view`` it never refuses a tensor for its memory
        layout; the result may or may not share ``.data`` with this tensor.
        """
        return self.reshape(*shape)

    def squeeze(self, axis: Axis = None, *, dim: Axis = None) -> Tensor:
        """Drop axes of size 1 (all, or those at ``axis`` or ``dim``), as ``torch.squeeze``."""
        return _ops.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Insert an axis of size 1 at ``axis`` (or ``dim``), as ``torch.unsqueeze``."""
        return _ops.unsqueeze(self, axis, dim=dim)

    def transpose(self, *axes: int) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def permute(self, *axes: int) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self, None)


def _extreme(name, amax, with_indices, x, dim, keepdim, axis, keepdims):
    if axis is not None or keepdims is not None:
        if dim is not None or keepdim:
            raise ArgumentError(f"{name}: give PyTorch's dim/keepdim or NumPy's axis/keepdims, "
                                f"not both (got dim={dim!r}, axis={axis!r})")
        return amax(x, axis=axis, keepdims=False if keepdims is None else keepdims)
    if dim is None:
        if keepdim:
            raise ArgumentError(f"{name}: keepdim=True needs a dim, got dim=None")
        return amax(x)
    return with_indices(x, dim, keepdims=keepdim)


_new_instance = object.__new__


def constant(data: npt.NDArray[Any]) -> Tensor:
    """``data``, an ndarray, as a Tensor that records nothing and needs no gradient.

    What :meth:`Tensor._from_op` makes with no tape node, for results computed
    outside the tape (a layer's inference pass under ``no_grad``): no array
    check, no class lookup, ~0.1 µs less per result, which counts in calls
    that take microseconds.
    """
    out = _new_instance(Tensor)
    out.data = data
    out.grad = None
    out._node = None
    out._output_index = 0
    out._requires_grad = False
    return out


def tensor(data: npt.ArrayLike, requires_grad: bool = False,
           dtype: npt.DTypeLike | None = None) -> Tensor:
    """Make a leaf Tensor holding a copy of ``data``.

    Without ``dtype``, an ndarray or Tensor keeps its dtype, Python ints and
    bools keep NumPy's, and Python floats take the default float dtype:
    float32, the layers' own, unless :func:`numrnn.set_default_dtype` changed it.
    """
    if isinstance(data, Tensor):
        data = data.data
    array = np.array(data, dtype=dtype, copy=True)
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)) \
            and array.dtype.kind == "f":
        array = array.astype(get_default_dtype(), copy=False)
    return Tensor(array, requires_grad=requires_grad)


# The ops import Tensor from this module, so they are bound after it exists;
# method calls look the op up at call time.
from numrnn.autograd import ops as _ops  # noqa: E402
from numrnn.autograd.ops.comparison import compare as _compare  # noqa: E402
