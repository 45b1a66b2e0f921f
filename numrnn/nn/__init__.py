"""Layers with parameters: ``from numrnn import nn``.

Module and Parameter mirror ``torch.nn``'s; the recurrent layers and cells keep
PyTorch's parameter names, shapes and call conventions, so weights and habits
carry over.
"""

from numrnn.nn import init
from numrnn.nn.attention import Attention, AttentionMemory
from numrnn.nn.cells import GRUCell, LSTMCell, RNNCell
from numrnn.nn.container import ModuleDict, ModuleList, Sequential
from numrnn.nn.conv import Conv1d
from numrnn.nn.conv2d import Conv2d
from numrnn.nn.dropout import Dropout
from numrnn.nn.embedding import Embedding
from numrnn.nn.flatten import Flatten
from numrnn.nn.linear import Linear
from numrnn.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from numrnn.nn.module import Module, functional_call
from numrnn.nn.normalization import LayerNorm
from numrnn.nn.parameter import Parameter, new_parameter
from numrnn.nn.pooling import AvgPool1d, MaxPool1d
from numrnn.nn.pooling2d import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from numrnn.nn.recurrent import GRU, LSTM, RNN
from numrnn.nn.seq2seq import DecoderState, Seq2Seq
from numrnn.nn.seq2seq_decode import DecodeResult
from numrnn.nn.streaming import Streamer

__all__ = [
    "Attention",
    "AttentionMemory",
    "DecodeResult",
    "DecoderState",
    "Dropout",
    "Embedding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LayerNorm",
    "Linear",
    "Module",
    "Parameter",
    "RNN",
    "RNNCell",
    "Sequential",
    "Seq2Seq",
    "Streamer",
    "functional_call",
    "init",
    "new_parameter",
]
__all__ += ["AvgPool1d", "Conv1d", "MaxPool1d"]
__all__ += ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "Flatten", "MaxPool2d"]
__all__ += ["BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "NLLLoss"]
__all__ += ["ModuleDict", "ModuleList"]
