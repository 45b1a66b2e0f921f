"""Batch inference on a Dask cluster: the same outputs as one process, bit for bit.

A two-layer LSTM encodes a few thousand variable-length sequences, once in
this process with ``numrnn.predict`` and once on Dask workers with
``numrnn.distributed.predict``, and the script checks that every output is
the same to the last bit and prints both times.

By default it starts a ``LocalCluster`` of worker processes on this machine.
Give ``--scheduler tcp://host:8786`` to use a real cluster started with
``dask scheduler`` and ``dask worker tcp://host:8786`` on each host (see
docs/distributed.md); the workers need numrnn installed.

    python examples/distributed_inference.py              # ~4000 sequences, 2 workers
    python examples/distributed_inference.py --quick      # seconds: a smoke test
"""

import argparse
import sys
import time

import numpy as np

import numrnn
from numrnn import nn


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=4000)
    parser.add_argument("--max-length", type=int, default=80)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the local cluster")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler "
                        "(default: start a LocalCluster)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.max_length, args.features, args.hidden_size = 120, 20, 8, 16
        args.batch_size = 16
    return args


def make_sequences(args):
    rng = np.random.default_rng(args.seed)
    return [rng.standard_normal((int(length), args.features)).astype(np.float32)
            for length in rng.integers(1, args.max_length + 1, args.sequences)]


def run_on_cluster(model, sequences, args):
    """``(outputs, seconds)`` from Dask workers, the cluster's start-up not counted."""
    import distributed

    if args.scheduler:
        with distributed.Client(args.scheduler, timeout=10) as client:
            return _timed_predict(model, sequences, client, args)
    # One task thread per worker: predict gives each its share of the cores.
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        return _timed_predict(model, sequences, client, args)


def _timed_predict(model, sequences, client, args):
    # The first call compiles the kernels on every worker: not what is being timed.
    numrnn.distributed.predict(model, sequences[:args.batch_size], client, args.batch_size,
                               per_step=True)
    started = time.perf_counter()
    outputs = numrnn.distributed.predict(model, sequences, client, args.batch_size,
                                         per_step=True)
    return outputs, time.perf_counter() - started


def main(argv=None):
    """Run both ways and compare; returns {"identical", "sequences", "local_s", "cluster_s"}."""
    args = parse_args(argv)
    numrnn.manual_seed(args.seed)
    model = nn.LSTM(args.features, args.hidden_size, num_layers=2)
    sequences = make_sequences(args)

    numrnn.predict(model, sequences[:args.batch_size], args.batch_size, per_step=True)
    started = time.perf_counter()
    expected = numrnn.predict(model, sequences, args.batch_size, per_step=True)
    local_s = time.perf_counter() - started

    outputs, cluster_s = run_on_cluster(model, sequences, args)
    identical = len(outputs) == len(expected) and all(
        np.array_equal(mine, theirs) for mine, theirs in zip(expected, outputs))
    where = args.scheduler or f"LocalCluster of {args.workers} worker processes"
    print(f"{len(sequences)} sequences, batch {args.batch_size}: one process {local_s:.2f} s, "
          f"{where} {cluster_s:.2f} s; outputs identical: {identical}")
    return {"identical": identical, "sequences": len(sequences), "local_s": local_s,
            "cluster_s": cluster_s}


if __name__ == "__main__":
    sys.exit(0 if main()["identical"] else 1)
