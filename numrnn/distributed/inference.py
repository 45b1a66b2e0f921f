"""``numrnn.distributed.predict``: batch inference on a Dask cluster, equal to one process.

The client plans the batches with :func:`numrnn.inference.plan_batches` (the
plan :func:`numrnn.predict` follows), so every batch holds the same sequences
as in one process, and each batch is one Dask task. The model travels as the
bytes of its safetensors file (:func:`numrnn.io.model_to_bytes`): scattered
once to every worker, rebuilt there once and cached by the SHA-256 of its
config and weights, so no pickled module or code ever crosses the wire and a
worker serves many batches from one copy. Results come back in input order
while later batches still run.

A task whose worker dies is rescheduled by Dask's scheduler (up to its
``distributed.scheduler.allowed-failures``); ``retries`` re-runs tasks that
raised, for transient failures on a worker.
"""

from __future__ import annotations

import collections
import hashlib
import math
import numbers
import os
import threading
from typing import TYPE_CHECKING

import numba
import numpy as np

from numrnn.distributed.bag_input import bag_batches, is_bag
from numrnn.distributed.engines import import_distributed
from numrnn.errors import ArgumentError, ArgumentTypeError, DistributedError
from numrnn.inference import check_batching, plan_batches, run_batch
from numrnn.io.config import dumps_spec, module_spec
from numrnn.io.load import model_from_bytes
from numrnn.io.save import model_to_bytes
from numrnn.threads import set_num_threads

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    import numpy.typing as npt

    from numrnn.nn.module import Module

__all__ = ["iter_predict", "predict"]

# Models a worker keeps rebuilt, most recently used last: enough for a few
# models served side by side without holding every model ever sent.
_CACHE_SIZE = 4
_cache: collections.OrderedDict[str, object] = collections.OrderedDict()
_cache_lock = threading.Lock()
# The thread count each task thread last set (numba's count is per thread).
_applied = threading.local()


def predict(model: Module, sequences: Iterable[npt.ArrayLike], client: Any = None,
            batch_size: int = 64, **options: Any) -> list[npt.NDArray[Any]]:
    """Run ``model`` over ``sequences`` on a Dask cluster; outputs in input order.

    Takes the arguments of :func:`iter_predict` and returns its outputs as a
    list: equal, bit for bit, to ``numrnn.predict(model, sequences,
    batch_size, ...)`` with the same options.
    """
    return list(iter_predict(model, sequences, client, batch_size, **options))


def iter_predict(model: Module, sequences: Iterable[npt.ArrayLike], client: Any = None,
                 batch_size: int = 64, *, per_step: bool = False, batch_first: bool = False,
                 padding_value: float = 0, dtype: npt.DTypeLike | None = None,
                 bucket_size_multiplier: int = 50, retries: int = 2, timeout: float = 10.0,
                 max_pending: int | None = None) -> Iterator[npt.NDArray[Any]]:
    """Yield ``model``'s output for each of ``sequences``, in input order, computed on Dask workers.

    Parameters
    ----------
    model : Module
        A module with ``get_config()`` whose class the workers can rebuild
        (numrnn's layers; your own classes registered with
        :func:`numrnn.io.register_model` in a module the workers import).
        Called as ``model(inputs, lengths=lengths)`` in eval mode, as by
        :func:`numrnn.predict`.
    sequences : iterable of array_like, or dask.bag.Bag
        A list or a generator of ``(L_i, *F)`` arrays, read one pool of
        ``batch_size * bucket_size_multiplier`` at a time; or a ``dask.bag`` of
        them, which stays on the cluster: only the lengths come to the client,
        and each batch is gathered on a worker from the partitions holding it
        (:mod:`numrnn.distributed.bag_input`).
    client : distributed.Client, str or None
        A client, a scheduler address (``"tcp://host:8786"``, connected for
        this call and closed after it), or None for the current default client.
    batch_size, per_step, batch_first, padding_value, dtype, bucket_size_multiplier
        As for :func:`numrnn.predict`.
    retries : int, default 2
        Times Dask re-runs a batch whose task raised.
    timeout : float, default 10.0
        Seconds to wait when connecting to a scheduler address.
    max_pending : int, optional
        Batches in flight at once (default four per worker thread): bounds the
        memory a long generator holds on the client.

    Raises
    ------
    DistributedError
        When no client is given and none is current, or the scheduler cannot be
        reached within ``timeout``.
    FormatError
        When ``model`` cannot be sent as a file (no ``get_config()``).
    """
    distributed = import_distributed()
    _check_options(retries, timeout, max_pending)
    # Before connecting, so that a bad argument costs no cluster round trip.
    bag = is_bag(sequences)
    plan = iter(()) if bag else plan_batches(sequences, batch_size, bucket_size_multiplier)
    check_batching(batch_size, bucket_size_multiplier)
    data = model_to_bytes(model)
    digest = model_digest(model)
    options = {"per_step": per_step, "batch_first": batch_first,
               "padding_value": padding_value, "dtype": dtype}
    client, owned = _connect(distributed, client, timeout)
    pending: collections.deque[Any] = collections.deque()
    try:
        host_threads, total_threads = _threads_per_host(client)
        limit = max_pending or 4 * max(total_threads, 1)
        [model_future] = client.scatter([data], broadcast=True, hash=False)
        if bag:
            plan = bag_batches(client, sequences, batch_size, bucket_size_multiplier)
        done: dict[int, Any]
        done, next_index = {}, 0
        for indices, batch in plan:
            future = client.submit(_predict_on_worker, digest, model_future, batch, options,
                                   host_threads, retries=retries, pure=False)
            pending.append((indices, future))
            while len(pending) >= limit:
                _collect(pending.popleft(), done)
                while next_index in done:
                    yield done.pop(next_index)
                    next_index += 1
        while pending:
            _collect(pending.popleft(), done)
            while next_index in done:
                yield done.pop(next_index)
                next_index += 1
    finally:
        for _, future in pending:
            future.cancel()
        if owned:
            client.close()


def model_digest(model):
    """SHA-256 of a model's config and weights: the key of the workers' cache.

    Not a hash of the file bytes, whose header lists the metadata in no fixed
    order: the same weights sent twice must find the model already rebuilt.
    """
    digest = hashlib.sha256(dumps_spec(module_spec(model)).encode())
    for name, array in sorted(model.state_dict().items()):
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _collect(entry, done):
    indices, future = entry
    done.update(zip(indices.tolist(), future.result()))


def _connect(distributed, client, timeout):
    """``(client, owned)``: the client to use, and whether this call opened it."""
    if client is None:
        try:
            return distributed.default_client(), False
        except ValueError as exc:
            raise DistributedError(
                "numrnn.distributed.predict: no Dask client is running; pass client=Client(...) "
                "or a scheduler address such as 'tcp://host:8786', or start one first "
                "(distributed.Client(distributed.LocalCluster()) on this machine)") from exc
    if isinstance(client, str):
        try:
            return distributed.Client(client, timeout=timeout, set_as_default=False), True
        except (OSError, TimeoutError) as exc:
            raise DistributedError(f"numrnn.distributed.predict: could not reach the Dask "
                                   f"scheduler at {client!r} within {timeout} s ({exc}); is "
                                   "`dask scheduler` running there and the port open?") from exc
    if isinstance(client, distributed.Client):
        return client, False
    raise ArgumentTypeError(f"numrnn.distributed.predict: client must be a distributed.Client, "
                            f"a scheduler address or None, got {type(client).__name__}")


def _threads_per_host(client):
    """``({worker address: task threads on its host}, all task threads)``."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    per_host = collections.Counter()
    for info in workers.values():
        per_host[info["host"]] += info["nthreads"]
    return ({address: per_host[info["host"]] for address, info in workers.items()},
            sum(per_host.values()))


def _predict_on_worker(digest, data, batch, options, host_threads):
    """A Dask task: one batch through the worker's cached copy of the model."""
    _use_share_of_cores(host_threads)
    return run_batch(_cached_model(digest, data), batch, **options)


def _cached_model(digest, data):
    with _cache_lock:
        model = _cache.get(digest)
        if model is None:
            model = model_from_bytes(data, where=f"model {digest[:12]} sent by the client")
            model.eval()
            _cache[digest] = model
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        _cache.move_to_end(digest)
        return model


def _use_share_of_cores(host_threads):
    """Give this task thread its share of the host's cores: they are split among all task threads.

    A worker started after the call planned (one that replaced a dead worker)
    is not in ``host_threads`` and counts its own threads only.
    """
    worker = import_distributed().get_worker()
    sharing = host_threads.get(worker.address) or worker.state.nthreads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, min(cores // sharing, numba.config.NUMBA_NUM_THREADS))
    # Set once per task thread and share: resetting the BLAS pools on every task cost
    # about 8 ms per batch (measured on 2 cores), a fifth of the per-task overhead.
    if getattr(_applied, "share", None) != share:
        set_num_threads(share)
        _applied.share = share


def _check_options(retries, timeout, max_pending):
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral) or retries < 0:
        raise ArgumentError(f"numrnn.distributed.predict: retries must be an int >= 0, "
                            f"got {retries!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) \
            or not (timeout > 0 and math.isfinite(timeout)):
        raise ArgumentError(f"numrnn.distributed.predict: timeout must be a finite number of "
                            f"seconds > 0, got {timeout!r}")
    if max_pending is not None and (isinstance(max_pending, bool)
                                    or not isinstance(max_pending, numbers.Integral)
                                    or max_pending < 1):
        raise ArgumentError(f"numrnn.distributed.predict: max_pending must be a positive int "
                            f"or None, got {max_pending!r}")
