"""Data-parallel training over MPI: every rank steps with the gradient of the whole global batch.

Each rank computes the gradient of its shard of the global batch; one
exchange per step turns those into the gradient of the concatenated batch, and
every rank applies the same update with its own copy of the optimizer. The
exchange packs, into ONE buffer per rank (float32 for a float32 model, else
float64), a small header (the rank's sample count, loss, whether its loss and
gradient are finite, which parameters have a gradient) and every gradient
scaled by the rank's sample count, so that unequal shards weigh as in one
process.

Reduction: ``"ordered"`` (the default) gathers every rank's buffer
(``Allgather``) and sums them in rank order on every rank, so the result is
bit-identical on all ranks and across reruns whatever the MPI library, its
algorithm choice or the network: replicas can never drift apart. It moves
``(p - 1) * n`` bytes into each rank against about ``2 * n`` for
``"allreduce"`` (``MPI_Allreduce`` with ``MPI_SUM``), which is the choice for
many ranks; MPICH's allreduce is deterministic for a fixed rank count and
message size, but the MPI standard does not promise equal bits on every rank.

Everything a rank could disagree on is checked collectively, so that every
rank raises the same error at the same step instead of one rank raising while
the others wait forever: the models and optimizers at construction, empty
shards in :meth:`DistributedOptimizer.shard`, non-finite losses and gradients
in the exchange.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import enable_grad
from numrnn.distributed.engines import import_mpi
from numrnn.errors import ArgumentError, ArgumentTypeError, DistributedError, ShapeError
from numrnn.io.config import dumps_spec, module_spec
from numrnn.optim.optimizer import Optimizer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    import numpy.typing as npt

    from numrnn.autograd.tensor import Tensor
    from numrnn.nn.module import Module
    from numrnn.typing import Axis, PathLike, TensorLike

__all__ = ["DistributedOptimizer", "rank0_only"]

_REDUCTIONS = ("ordered", "allreduce")
# Header of each rank's buffer, before its per-rank and per-parameter flags.
_SAMPLES, _LOSS, _HEAD = 0, 1, 2


class DistributedOptimizer(Optimizer):
    """Wrap any numrnn optimizer so that its step uses the gradient averaged over all MPI ranks.

    Parameters
    ----------
    optimizer : Optimizer
        Built on every rank the same way, over the rank's copy of the model.
    model : Module, optional
        Its config (``get_config()``) is compared across ranks as well.
    comm : mpi4py.MPI.Comm, optional
        Defaults to ``MPI.COMM_WORLD``.
    reduction : {"ordered", "allreduce"}, default "ordered"
        How gradients are summed (see the module's docstring).
    broadcast : bool, default True
        Copy rank 0's parameters to every rank now, so that all start alike.

    Raises
    ------
    DistributedError
        On every rank, when the ranks' models, parameter shapes or optimizer
        options differ.

    Notes
    -----
    With :func:`numrnn.training.fit` nothing else changes: ``fit`` calls
    :meth:`synchronize` after each backward, so its gradient-norm check,
    clipping and reported losses see the global batch on every rank. In a
    hand-written loop, :meth:`step` synchronizes first::

        optimizer = DistributedOptimizer(Adam(model.parameters()), model)
        for inputs, targets in global_batches:
            optimizer.zero_grad()
            inputs, targets = optimizer.shard(inputs, targets)
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
    """

    def __init__(self, optimizer: Optimizer, model: Module | None = None, comm: Any = None,
                 reduction: str = "ordered", broadcast: bool = True) -> None:
        if not isinstance(optimizer, Optimizer) or isinstance(optimizer, DistributedOptimizer):
            raise ArgumentTypeError(f"DistributedOptimizer: optimizer must be a numrnn "
                                    f"Optimizer (not already distributed), "
                                    f"got {type(optimizer).__name__}")
        if reduction not in _REDUCTIONS:
            raise ArgumentError(f"DistributedOptimizer: reduction must be one of {_REDUCTIONS}, "
                                f"got {reduction!r}")
        self._mpi = import_mpi()
        self.comm = self._mpi.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.optimizer = optimizer
        self.reduction = reduction
        self.local_samples = 1
        self.nonfinite_ranks: list[int] = []
        self._synchronized = False
        self._check_ranks_agree(model)
        if broadcast:
            for param in self._params():
                self.comm.Bcast(param.data, root=0)

    # The wrapped optimizer's groups, state and options are this one's.
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        self.optimizer.param_groups = groups

    @property
    def state(self) -> dict[Tensor, dict[str, Any]]:
        return self.optimizer.state

    @state.setter
    def state(self, state: dict[Tensor, dict[str, Any]]) -> None:
        self.optimizer.state = state

    # Read-only here, as it always was: the wrapped optimizer owns its options.
    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return self.optimizer.defaults

    def _params(self):
        return [param for group in self.optimizer.param_groups for param in group["params"]]

    def _update(self, data, grad, state, group):
        self.optimizer._update(data, grad, state, group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        raise ArgumentError("DistributedOptimizer: add parameter groups to the wrapped optimizer "
                            "before wrapping it; every rank must hold the same parameters")

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state_dict)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()
        self._synchronized = False

    # -- the global batch ---------------------------------------------------
    def shard(self, *arrays: npt.NDArray[Any], axis: Axis = 0) -> Any:
        """This rank's contiguous part of each of ``arrays``, one global batch split across ranks.

        Rank ``r`` of ``p`` gets items ``[r * N // p, (r + 1) * N // p)`` of the
        ``N`` along ``axis`` (an ndarray's axis, or a list's items), and its
        count becomes :attr:`local_samples`, the weight of its gradient. A
        collective call: every rank learns the others' counts.

        Raises
        ------
        DistributedError
            On every rank, when any rank's part would be empty.
        """
        if not arrays:
            raise ArgumentError("DistributedOptimizer.shard: got no arrays")
        sizes = {_length(array, axis) for array in arrays}
        if len(sizes) != 1:
            raise ShapeError(f"DistributedOptimizer.shard: the arrays must have the same length "
                             f"along axis {axis}, got {sorted(sizes)}")
        total = sizes.pop()
        begin, end = self.rank * total // self.size, (self.rank + 1) * total // self.size
        counts = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([end - begin], dtype=np.int64), counts)
        empty = [rank for rank, count in enumerate(counts) if count == 0]
        if empty:
            raise DistributedError(f"DistributedOptimizer.shard: rank(s) {empty} would get no "
                                   f"samples (batch lengths per rank {counts.tolist()}, "
                                   f"{self.size} ranks); use a global batch of at least "
                                   f"{self.size} samples")
        self.local_samples = end - begin
        parts = tuple(_take(array, begin, end, axis) for array in arrays)
        return parts[0] if len(parts) == 1 else parts

    # -- the exchange -------------------------------------------------------
    def synchronize(self, loss: TensorLike | float | None = None) -> float | None:
        """Replace every rank's gradients by those of the global batch; a collective call.

        Each rank's gradient is weighted by its :attr:`local_samples`, so the
        result is the gradient of the mean loss over the concatenated shards.
        A parameter keeps ``grad=None`` only when it has none on every rank.

        Parameters
        ----------
        loss : float, optional
            This rank's loss (the mean over its shard).

        Returns
        -------
        float or None
            The mean loss over the global batch, when ``loss`` was given.

        Raises
        ------
        NonFiniteLossError
            On every rank, when the loss of any rank is NaN or infinite.
        DistributedError
            On every rank, when any rank has no samples.
        """
        from numrnn.training.fit import NonFiniteLossError

        params = self._params()
        samples = self.local_samples
        if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 0:
            raise ArgumentError(f"DistributedOptimizer: local_samples must be an int >= 0, "
                                f"got {samples!r}")
        sizes = [param.data.size for param in params]
        flags = _HEAD + 3 * self.size
        buffer = np.zeros(flags + len(params) + sum(sizes), dtype=_exchange_dtype(params))
        buffer[_SAMPLES] = samples
        local_loss = 0.0 if loss is None else float(loss)
        buffer[_LOSS] = samples * local_loss if math.isfinite(local_loss) else 0.0
        buffer[_HEAD + self.rank] = samples
        buffer[_HEAD + self.size + self.rank] = not math.isfinite(local_loss)
        grads = buffer[flags + len(params):]
        offset = 0
        finite = True
        for number, (param, size) in enumerate(zip(params, sizes)):
            if param.grad is not None:
                buffer[flags + number] = 1.0
                part = grads[offset:offset + size]
                np.multiply(np.asarray(param.grad).reshape(-1), samples, out=part)
                # One pass and no temporary: a sum is finite exactly when every term is,
                # since float32/float64 gradients cannot overflow a float64 sum.
                finite = finite and math.isfinite(part.sum(dtype=np.float64))
            offset += size
        buffer[_HEAD + 2 * self.size + self.rank] = not finite

        total = self._reduce(buffer)

        counts = total[_HEAD:_HEAD + self.size]
        empty = [rank for rank, count in enumerate(counts) if count == 0]
        if empty:
            raise DistributedError(f"DistributedOptimizer: rank(s) {empty} had no samples "
                                   f"(local_samples per rank {counts.astype(int).tolist()}); "
                                   "every rank needs a non-empty shard of each global batch")
        bad_loss = np.flatnonzero(total[_HEAD + self.size:_HEAD + 2 * self.size]).tolist()
        if bad_loss:
            raise NonFiniteLossError(f"DistributedOptimizer: the loss of rank(s) {bad_loss} is NaN "
                                     "or infinite; no rank updated its weights. Lower the "
                                     "learning rate or set clip_grad_norm")
        self.nonfinite_ranks = np.flatnonzero(total[_HEAD + 2 * self.size:flags]).tolist()
        scale = 1.0 / total[_SAMPLES]
        summed = total[flags + len(params):]
        offset = 0
        for number, (param, size) in enumerate(zip(params, sizes)):
            if total[flags + number]:
                averaged = np.multiply(summed[offset:offset + size], scale,
                                       dtype=param.data.dtype)
                param.grad = averaged.reshape(param.data.shape)
            offset += size
        self._synchronized = True
        return None if loss is None else float(total[_LOSS] * scale)

    def _reduce(self, buffer):
        if self.reduction == "allreduce":
            total = np.empty_like(buffer)
            self.comm.Allreduce(buffer, total, op=self._mpi.SUM)
            return total
        rows = np.empty((self.size, buffer.size), dtype=buffer.dtype)
        self.comm.Allgather(buffer, rows)
        total = rows[0].copy()
        for row in rows[1:]:
            total += row
        return total

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Synchronize the gradients (unless :meth:`synchronize` already did), then step.

        Raises
        ------
        NonFiniteGradError
            On every rank, when the gradient of any rank holds NaN or inf;
            no rank's weights change.
        """
        from numrnn.training.fit import NonFiniteGradError

        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
            self._synchronized = False
        if not self._synchronized:
            self.synchronize()
        self._synchronized = False
        if self.nonfinite_ranks:
            raise NonFiniteGradError(f"DistributedOptimizer: the gradient of rank(s) "
                                     f"{self.nonfinite_ranks} holds NaN or infinite values; no "
                                     "rank updated its weights. Lower the learning rate or clip "
                                     "the gradients")
        self.optimizer.step()
        return loss

    def _check_ranks_agree(self, model):
        """Refuse, on every rank, ranks whose model, parameters or optimizer differ."""
        spec = module_spec(model) if model is not None else None
        description = json.dumps({
            "model": None if spec is None else json.loads(dumps_spec(spec)),
            "parameters": [[list(param.data.shape), param.data.dtype.name]
                           for param in self._params()],
            "optimizer": type(self.optimizer).__name__,
            "options": [_plain_options(group) for group in self.optimizer.param_groups],
        }, sort_keys=True)
        everyone = self.comm.allgather(description)
        differing = [rank for rank, text in enumerate(everyone) if text != everyone[0]]
        if differing:
            first = differing[0]
            raise DistributedError(
                f"DistributedOptimizer: rank(s) {differing} hold a different model or optimizer "
                f"than rank 0; every rank must build the same ones.\n  rank 0: "
                f"{_brief(everyone[0])}\n  rank {first}: {_brief(everyone[first])}")


def rank0_only(path: PathLike, comm: Any = None) -> PathLike | None:
    """``path`` on rank 0 and None on the others: pass it as ``fit(checkpoint=...)``.

    Every rank holds the same weights and optimizer state, so one writer is
    enough; the others may ``resume`` from the file rank 0 wrote.
    """
    MPI = import_mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    return path if comm.Get_rank() == 0 else None


def _exchange_dtype(params):
    """float32 when every parameter is: half the bytes of float64 on the wire, and a rank-order
    sum of float32 gradients is as reproducible as one in float64."""
    return np.result_type(*(param.data.dtype for param in params))


def _plain_options(group):
    return {key: value for key, value in sorted(group.items())
            if key != "params" and isinstance(value, (bool, int, float, str, type(None), tuple,
                                                      list))}


def _brief(text, limit=600):
    return text if len(text) <= limit else text[:limit] + "..."


def _length(array, axis):
    if isinstance(array, np.ndarray):
        if not -array.ndim <= axis < array.ndim:
            raise ShapeError(f"DistributedOptimizer.shard: axis {axis} is out of range for an "
                             f"array of shape {array.shape}")
        return array.shape[axis]
    if isinstance(array, (list, tuple)):
        return len(array)
    raise ArgumentTypeError(f"DistributedOptimizer.shard: expected ndarrays or lists, "
                            f"got {type(array).__name__}")


def _take(array, begin, end, axis):
    if isinstance(array, np.ndarray):
        index = [slice(None)] * array.ndim
        index[axis] = slice(begin, end)
        return array[tuple(index)]
    return array[begin:end]
