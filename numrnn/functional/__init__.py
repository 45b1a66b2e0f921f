"""The user-facing functional API: ``from numrnn import functional as F``."""

from numrnn.autograd.ops import *  # noqa: F403
from numrnn.autograd.ops import __all__ as _ops_all
from numrnn.functional.attention import (
    additive_attention,
    dot_attention,
    general_attention,
    masked_softmax,
)
from numrnn.functional.conv import conv1d
from numrnn.functional.conv2d import conv2d
from numrnn.functional.gru import gru, gru_cell
from numrnn.functional.layer_norm import layer_norm
from numrnn.functional.lstm import lstm, lstm_cell
from numrnn.functional.pooling import avg_pool1d, max_pool1d
from numrnn.functional.pooling2d import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from numrnn.functional.rnn import rnn, rnn_cell
from numrnn.functional.sequence_losses import (
    last_valid_step,
    sequence_binary_cross_entropy_with_logits,
    sequence_cross_entropy,
    sequence_l1_loss,
    sequence_mask,
    sequence_mse_loss,
    sequence_nll_loss,
)
from numrnn.functional.windows import output_lengths

__all__ = list(_ops_all) + ["gru", "gru_cell", "lstm", "lstm_cell", "rnn", "rnn_cell"]
__all__ += ["layer_norm", "last_valid_step", "sequence_cross_entropy", "sequence_mask",
            "sequence_mse_loss", "sequence_binary_cross_entropy_with_logits",
            "sequence_l1_loss", "sequence_nll_loss"]
__all__ += ["additive_attention", "dot_attention", "general_attention", "masked_softmax"]
__all__ += ["avg_pool1d", "conv1d", "max_pool1d", "output_lengths"]
__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "conv2d", "max_pool2d"]
