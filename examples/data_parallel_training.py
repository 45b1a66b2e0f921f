"""Data-parallel training over MPI: N processes train one model as one process would.

An LSTM learns to predict the running mean of noisy sequences. Every global
batch is split across the MPI ranks (``optimizer.shard``); each rank
backpropagates its shard, ``DistributedOptimizer`` averages the gradients
(weighted by shard size) and every rank takes the same Adam step, inside an
ordinary ``fit``. Rank 0 alone writes the checkpoint; at the end every rank
checks that all hold the same bits.

Started plainly, the script launches itself on this machine with ``mpiexec -n
2`` (the mpich wheel's). On real hosts, start it yourself (see
docs/distributed.md)::

    mpiexec -n 8 -hosts node1,node2 python -m mpi4py examples/data_parallel_training.py

    python examples/data_parallel_training.py              # 2 local ranks, ~a minute
    python examples/data_parallel_training.py --quick      # seconds: a smoke test
"""

import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.optim import Adam

# Set by mpiexec (MPICH's hydra, Open MPI) in every rank it starts.
MPI_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")


class RunningMean(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, inputs):
        output, _ = self.lstm(inputs)
        return self.head(output)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, default=2,
                        help="processes to launch when started outside mpiexec")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="global batches per epoch")
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--checkpoint", help="written by rank 0 (default: a temporary file)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps, args.global_batch, args.length, args.hidden_size = 2, 5, 8, 6, 8
    return args


def epoch_batches(args, epoch):
    """The global batches of one epoch: the same on every rank, drawn from the epoch's seed."""
    rng = np.random.default_rng([args.steps, epoch])
    batches = []
    for _ in range(args.steps):
        inputs = rng.standard_normal((args.global_batch, args.length, 1)).astype(np.float32)
        steps = np.arange(1, args.length + 1, dtype=np.float32)[None, :, None]
        batches.append((inputs, np.cumsum(inputs, axis=1) / steps))
    return batches


def train(args):
    """One rank's part: returns {"losses", "identical", "ranks"} (on every rank)."""
    from mpi4py import MPI

    from numrnn.distributed import DistributedOptimizer, rank0_only
    from numrnn.training import fit

    comm = MPI.COMM_WORLD
    numrnn.manual_seed(0)
    model = RunningMean(args.hidden_size)
    optimizer = DistributedOptimizer(Adam(model.parameters(), lr=args.lr), model.lstm)

    def step(model, batch):
        inputs, targets = optimizer.shard(*batch)
        return F.mse_loss(model(inputs), targets)

    checkpoint = args.checkpoint or os.path.join(tempfile.gettempdir(),
                                                 "numrnn-data-parallel.safetensors")
    history = fit(model, lambda epoch: epoch_batches(args, epoch), step, optimizer,
                  epochs=args.epochs, checkpoint=rank0_only(checkpoint),
                  progress=None if comm.Get_rank() == 0 else False)
    digest = hashlib.sha256(b"".join(array.tobytes() for _, array in
                                     sorted(model.state_dict().items()))).hexdigest()
    identical = len(set(comm.allgather(digest))) == 1
    if comm.Get_rank() == 0:
        print(f"{comm.Get_size()} ranks, global batch {args.global_batch}: loss per epoch "
              f"{', '.join(f'{loss:.4f}' for loss in history.train_loss)}; weights identical "
              f"on every rank: {identical}; checkpoint by rank 0: {checkpoint}", flush=True)
    return {"losses": history.train_loss, "identical": identical, "ranks": comm.Get_size()}


def launch(args, argv):
    """Start this script under ``mpiexec -n ranks`` on this machine; returns its exit status."""
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) \
        or shutil.which("mpiexec")
    if mpiexec is None:
        print('mpiexec not found: pip install "numrnn[distributed]" (brings the mpich wheel)',
              file=sys.stderr)
        return 2
    command = [mpiexec, "-n", str(args.ranks), sys.executable, "-m", "mpi4py",
               str(pathlib.Path(__file__).resolve()), *argv]
    return subprocess.run(command, check=False).returncode


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if not any(name in os.environ for name in MPI_RANK_VARIABLES):
        return launch(args, argv)
    return 0 if train(args)["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
