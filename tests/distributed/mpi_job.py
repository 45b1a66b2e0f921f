"""The job test_mpi_data_parallel.py launches with ``mpiexec -n 2``, and its one-process twin.

``python -m mpi4py mpi_job.py CASE[,CASE...] OUT_DIR`` runs the cases in turn
on every rank and writes what each rank ends with to
``OUT_DIR/<case>.rank<r>.npz``, or ``<ErrorClass>: <message>`` to
``OUT_DIR/<case>.rank<r>.error`` when the case is refused (on every rank at the
same step, so the next case starts together). The model, the data and the step
are plain functions here, so that the test runs the same training in one
process on the concatenated batches.
"""

import pathlib
import sys

import numpy as np

import numrnn
from numrnn import functional as F
from numrnn import nn
from numrnn.optim import Adam

STEPS = 20
GLOBAL_BATCH = 6
UNEVEN_BATCH = 7
FEATURES, HIDDEN, OUTPUTS, LENGTH = 3, 5, 2, 4


class Regressor(nn.Module):
    def __init__(self, dtype, hidden=HIDDEN):
        super().__init__()
        self.lstm = nn.LSTM(FEATURES, hidden, batch_first=True, dtype=dtype)
        self.head = nn.Linear(hidden, OUTPUTS, dtype=dtype)

    def forward(self, inputs):
        output, _ = self.lstm(inputs)
        return self.head(output[:, -1])


def build(dtype, hidden=HIDDEN):
    numrnn.manual_seed(0)
    model = Regressor(dtype, hidden)
    return model, Adam(model.parameters(), lr=0.01)


def global_batches(dtype, count=STEPS, batch=GLOBAL_BATCH):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((batch, LENGTH, FEATURES)).astype(dtype),
             rng.standard_normal((batch, OUTPUTS)).astype(dtype)) for _ in range(count)]


def loss_of(model, inputs, targets):
    return F.mse_loss(model(inputs), targets)


def weights(model):
    return {name: np.array(array) for name, array in model.state_dict().items()}


def train_single_process(dtype, batch=GLOBAL_BATCH):
    """The reference: plain Adam on each whole global batch, in this process."""
    model, optimizer = build(dtype)
    for inputs, targets in global_batches(dtype, batch=batch):
        optimizer.zero_grad()
        loss_of(model, inputs, targets).backward()
        optimizer.step()
    return weights(model)


def hand_loop(dtype, reduction, batch=GLOBAL_BATCH, poison_rank=None):
    from numrnn.distributed import DistributedOptimizer

    model, optimizer = build(dtype)
    optimizer = DistributedOptimizer(optimizer, model.lstm, reduction=reduction)
    for inputs, targets in global_batches(dtype, batch=batch):
        optimizer.zero_grad()
        inputs, targets = optimizer.shard(inputs, targets)
        loss_of(model, inputs, targets).backward()
        if optimizer.rank == poison_rank:
            model.head.weight.grad[0, 0] = np.nan
        optimizer.step()
    return weights(model)


def with_fit(dtype, out, poison_rank=None):
    """20 steps in two epochs of fit, rank 0 checkpointing; then every rank resumes for one more."""
    from numrnn.distributed import DistributedOptimizer, rank0_only
    from numrnn.training import fit

    batches = global_batches(dtype)

    def step(model, batch):
        inputs, targets = optimizer.shard(*batch)
        if optimizer.rank == poison_rank:
            inputs = inputs * np.nan
        return loss_of(model, inputs, targets)

    model, inner = build(dtype)
    optimizer = DistributedOptimizer(inner, model.lstm)
    checkpoint = out / "fit.checkpoint.safetensors"
    history = fit(model, lambda epoch: batches[10 * epoch:10 * (epoch + 1)], step, optimizer,
                  epochs=2,
                  checkpoint=rank0_only(checkpoint), progress=False)
    trained = weights(model)
    optimizer.comm.Barrier()
    resumed_model, resumed_inner = build(dtype)
    optimizer = DistributedOptimizer(resumed_inner, resumed_model.lstm)
    fit(resumed_model, lambda epoch: batches[:5], step, optimizer, epochs=3, resume=checkpoint,
        progress=False)
    result = {f"trained.{name}": array for name, array in trained.items()}
    result.update({f"resumed.{name}": array for name, array in weights(resumed_model).items()})
    result["losses"] = np.array(history.train_loss)
    result["wrote_checkpoint"] = np.array(rank0_only(checkpoint) is not None)
    return result


def mismatched_models():
    from mpi4py import MPI

    from numrnn.distributed import DistributedOptimizer

    model, optimizer = build(np.float32, hidden=HIDDEN + MPI.COMM_WORLD.Get_rank())
    DistributedOptimizer(optimizer, model.lstm)
    return {}


CASES = {
    "hand_float32": lambda out: hand_loop(np.float32, "ordered"),
    # 7 samples: shards of 3 and 4, weighted by their sizes.
    "hand_float64": lambda out: hand_loop(np.float64, "ordered", batch=UNEVEN_BATCH),
    "hand_float64_allreduce": lambda out: hand_loop(np.float64, "allreduce"),
    "fit_float32": lambda out: with_fit(np.float32, out),
    "mismatched_models": lambda out: mismatched_models(),
    "empty_shard": lambda out: hand_loop(np.float32, "ordered", batch=1),
    "nonfinite_grad": lambda out: hand_loop(np.float32, "ordered", poison_rank=1),
    "nonfinite_loss_in_fit": lambda out: with_fit(np.float32, out, poison_rank=1),
}


def main(argv):
    from mpi4py import MPI

    cases, out = argv[0].split(","), pathlib.Path(argv[1])
    rank = MPI.COMM_WORLD.Get_rank()
    for case in cases:
        try:
            result = CASES[case](out)
        except numrnn.NumrnnError as exc:
            # Every rank raises at the same step, so all go on to the next case together.
            # A file per rank: mpiexec may interleave the ranks' long lines on stdout.
            (out / f"{case}.rank{rank}.error").write_text(f"{type(exc).__name__}: {exc}")
            continue
        np.savez(out / f"{case}.rank{rank}.npz", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
