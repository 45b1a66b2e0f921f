"""numrnn.distributed.predict on a real Dask LocalCluster of two worker processes.

What is proven: the outputs equal numrnn.predict in one process bit for bit
(float32 and float64, a list, a generator and a dask.bag whose sequences stay on
the cluster, per step and per sequence), a
worker killed mid-run costs nothing but time, the model is rebuilt once per
worker from its file bytes, each task thread gets its share of the cores, and
a task that raises once is retried with ``retries``.
Bad input: tests/distributed/test_dask_predict_errors.py.
"""

import os
import pathlib
import signal

import numpy as np
import pytest

import numrnn
from numrnn import nn

distributed = pytest.importorskip(
    "distributed", reason="needs the numrnn[distributed] extra (dask[distributed])")
import numrnn.distributed as nd  # noqa: E402
from numrnn.distributed import inference  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    # Spawned workers must import this worktree's numrnn, not an installed one.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), old]))
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as dask_client:
            yield dask_client
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def sequences(count, features, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(length), features)).astype(dtype)
            for length in rng.integers(1, 25, count)]


def lstm(dtype):
    numrnn.manual_seed(0)
    return nn.LSTM(6, 12, num_layers=2, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_equal_one_process_bit_for_bit(client, dtype):
    model, data = lstm(dtype), sequences(150, 6, dtype)
    expected = numrnn.predict(model, data, 16, per_step=True, bucket_size_multiplier=4)

    # A generator on the cluster side: read pool by pool, never as a list.
    got = nd.predict(model, iter(data), client, 16, per_step=True, bucket_size_multiplier=4)

    assert len(got) == len(expected) == len(data)
    for sequence, want, have in zip(data, expected, got):
        assert have.shape == (len(sequence), 12) and have.dtype == dtype
        assert np.array_equal(have, want)


def test_a_dask_bag_gives_one_process_outputs_and_stays_on_the_cluster(client):
    import dask.bag

    model, data = lstm(np.float32), sequences(130, 6, np.float32, seed=11)
    expected = numrnn.predict(model, data, 8, per_step=True, bucket_size_multiplier=3)
    # Pools of 24 sequences span the 5 partitions' boundaries, and map() makes
    # the partitions lazy: the batches must still hold what one process's hold.
    bag = dask.bag.from_sequence(data, npartitions=5).map(lambda array: array * 1)
    fetched = []
    original = client.gather

    def gather(futures, *args, **kwargs):
        result = original(futures, *args, **kwargs)
        fetched.append(result)
        return result

    client.gather = gather
    try:
        got = nd.predict(model, bag, client, 8, per_step=True, bucket_size_multiplier=3)
    finally:
        client.gather = original

    assert len(got) == len(data)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    # Only the lengths came to the client before the outputs, not the sequences.
    [lengths] = fetched
    assert [len(part) for part in lengths] == [26] * 5
    assert np.concatenate(lengths).tolist() == [len(sequence) for sequence in data]


def test_an_empty_sequence_in_a_bag_is_refused_by_its_position(client):
    import dask.bag

    model, data = lstm(np.float32), sequences(10, 6, np.float32)
    data[7] = np.zeros((0, 6), np.float32)
    with pytest.raises(numrnn.ShapeError, match=r"sequence 7 must have shape \(L, \*features\) "
                                                r"with L >= 1, got shape \(0, 6\)"):
        nd.predict(model, dask.bag.from_sequence(data, npartitions=3), client, 4)


def test_batch_first_outputs_equal_one_process(client):
    numrnn.manual_seed(1)
    model = nn.GRU(6, 5, batch_first=True)
    data = sequences(40, 6, np.float32, seed=3)
    expected = numrnn.predict(model, data, 8, per_step=True, batch_first=True)
    got = nd.predict(model, data, client, 8, per_step=True, batch_first=True)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    assert [len(output) for output in got] == [len(sequence) for sequence in data]


def test_each_worker_rebuilds_the_model_once_and_caches_it(client):
    model, data = lstm(np.float32), sequences(60, 6, np.float32)
    nd.predict(model, data, client, 4, per_step=True)
    digest = inference.model_digest(model)

    cached = client.run(lambda: {key: id(value) for key, value in inference._cache.items()})
    for worker_cache in cached.values():
        assert digest in worker_cache
    nd.predict(model, data, client, 4, per_step=True)
    again = client.run(lambda: {key: id(value) for key, value in inference._cache.items()})
    for address, worker_cache in cached.items():
        assert again[address][digest] == worker_cache[digest]


def test_tasks_use_their_share_of_the_workers_cores(client):
    shares, _ = inference._threads_per_host(client)
    cores = len(os.sched_getaffinity(0))

    def threads_in_task(host_threads):
        inference._use_share_of_cores(host_threads)
        return numrnn.get_num_threads()

    got = client.submit(threads_in_task, shares, pure=False).result()
    assert got == max(1, cores // 2)


def test_a_worker_killed_mid_run_still_gives_every_result_once(client):
    model, data = lstm(np.float32), sequences(400, 6, np.float32, seed=5)
    expected = numrnn.predict(model, data, 4, per_step=True)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]

    got = []
    for output in nd.iter_predict(model, data, client, 4, per_step=True, max_pending=16):
        if not got:
            os.kill(pids[victim], signal.SIGKILL)
        got.append(output)

    assert len(got) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    client.wait_for_workers(2, timeout=30)
    assert pids[victim] not in client.run(os.getpid).values()


def test_a_task_that_fails_once_is_retried(client):
    model, data = lstm(np.float32), sequences(30, 6, np.float32, seed=7)
    expected = numrnn.predict(model, data, 8, per_step=True)

    def fail_first_batch():
        from numrnn.distributed import inference as on_worker

        original = on_worker.run_batch
        failed = []

        def flaky(*args, **kwargs):
            if not failed:
                failed.append(True)
                raise ConnectionResetError("a transient failure on the worker")
            return original(*args, **kwargs)

        flaky.original = original
        on_worker.run_batch = flaky

    def restore():
        from numrnn.distributed import inference as on_worker

        on_worker.run_batch = getattr(on_worker.run_batch, "original", on_worker.run_batch)

    client.run(fail_first_batch)
    try:
        got = nd.predict(model, data, client, 8, per_step=True, retries=1)
        assert all(np.array_equal(a, b) for a, b in zip(expected, got))
        client.run(restore)
        client.run(fail_first_batch)
        with pytest.raises(ConnectionResetError, match="a transient failure"):
            nd.predict(model, data, client, 8, per_step=True, retries=0)
    finally:
        client.run(restore)
