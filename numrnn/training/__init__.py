"""Training: the ``fit`` loop, and truncated BPTT over long streams.

``from numrnn.training import fit, Callback, StopTraining, StreamChunks, TruncatedBPTT``; see
``docs/training.md``.
"""

from numrnn.training.callbacks import Callback, StopTraining
from numrnn.training.checkpoint import Resumed, load_checkpoint, save_checkpoint
from numrnn.training.fit import (
    History,
    NonFiniteGradError,
    NonFiniteGradWarning,
    NonFiniteLossError,
    fit,
)
from numrnn.training.tbptt import (
    Chunk,
    StreamChunks,
    TruncatedBPTT,
    batchify,
    check_unidirectional,
    detach_state,
    evaluate_stream,
    reset_state_rows,
)

__all__ = [
    "Callback",
    "Chunk",
    "History",
    "NonFiniteGradError",
    "NonFiniteGradWarning",
    "NonFiniteLossError",
    "Resumed",
    "StopTraining",
    "StreamChunks",
    "TruncatedBPTT",
    "batchify",
    "check_unidirectional",
    "detach_state",
    "evaluate_stream",
    "fit",
    "load_checkpoint",
    "reset_state_rows",
    "save_checkpoint",
]
