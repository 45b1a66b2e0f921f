"""Batches of a ``dask.bag`` of sequences, formed on the cluster as ``numrnn.predict`` would.

A bag's sequences already live on the workers, in partitions. To give the
outputs of one process bit for bit, the batches must hold the same sequences
as there (a row's result depends on the batch it ran in: the GEMMs' blocking
follows the batch's size). So the client plans from the lengths alone
(:func:`numrnn.inference.plan_batch_indices`): one small task per partition
measures its sequences, and only the lengths cross the network. Each batch is
then gathered from the partitions that hold its sequences, one small task per
partition taking just those items, so no partition moves whole.
"""

import numpy as np

from numrnn.inference import plan_batch_indices, sequence_length

__all__ = ["bag_batches", "is_bag"]


def is_bag(sequences):
    """Whether ``sequences`` is a ``dask.bag.Bag`` (checked without importing dask)."""
    return any(cls.__module__.startswith("dask.bag") and cls.__name__ == "Bag"
               for cls in type(sequences).__mro__)


def bag_batches(client, bag, batch_size, bucket_size_multiplier):
    """Yield ``(indices, batch)``: each batch's positions in the bag, and a future of its
    sequences in that order (the ``batch`` of :func:`numrnn.inference.plan_batches`).

    The bag's partitions are computed once on the cluster and kept there while
    the batches are gathered from them.
    """
    partitions = client.compute(bag.to_delayed())
    counts = client.gather([client.submit(_lengths, part, pure=False)
                            for part in partitions])
    offsets = np.cumsum([0] + [len(lengths) for lengths in counts])
    for position, lengths in enumerate(counts):
        bad = np.flatnonzero(lengths < 1)
        if bad.size:
            index = int(offsets[position] + bad[0])
            # Measured again here only to word the error as one process does.
            sequence_length(np.asarray(client.submit(_item, partitions[position],
                                                     int(bad[0])).result()), index)
    lengths = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    for indices in plan_batch_indices(lengths, batch_size, bucket_size_multiplier):
        owners = np.searchsorted(offsets, indices, side="right") - 1
        pieces = []
        for owner in np.unique(owners):
            where = np.flatnonzero(owners == owner)
            local = indices[where] - offsets[owner]
            pieces.append((where, client.submit(_take, partitions[owner], local, pure=False)))
        places = [where for where, _ in pieces]
        batch = client.submit(_assemble, places, [future for _, future in pieces], pure=False)
        yield indices, batch


def _lengths(items):
    """Each item's length, 0 for a scalar or an empty sequence (refused on the client)."""
    arrays = [np.asarray(item) for item in items]
    return np.array([0 if array.ndim == 0 else len(array) for array in arrays],
                    dtype=np.int64)


def _item(items, index):
    return items[index]


def _take(items, local):
    return [np.asarray(items[index]) for index in local]


def _assemble(places, parts):
    """One batch's sequences in its order, from the pieces each partition gave."""
    batch = [None] * sum(len(where) for where in places)
    for where, part in zip(places, parts):
        for place, item in zip(where, part):
            batch[place] = item
    return batch
