"""new_parameter and limit_parameters: every layer's parameters are counted before allocation."""

import threading

import numpy as np
import pytest

from numrnn import nn
from numrnn.errors import FormatError
from numrnn.io import registered_models
from numrnn.language_model import CharLanguageModel
from numrnn.nn.parameter import limit_parameters

REASON = "set by the test"

# One small instance of every registered class that has parameters, built from nothing else.
BUILDERS = {
    "RNN": lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True),
    "LSTM": lambda: nn.LSTM(3, 4, num_layers=2, forget_bias=1.0, recurrent_init="orthogonal"),
    "GRU": lambda: nn.GRU(3, 4, bias=False, dtype=np.float64),
    "RNNCell": lambda: nn.RNNCell(3, 4),
    "LSTMCell": lambda: nn.LSTMCell(3, 4),
    "GRUCell": lambda: nn.GRUCell(3, 4, bias=False),
    "Linear": lambda: nn.Linear(3, 4),
    "Embedding": lambda: nn.Embedding(5, 3, padding_idx=0),
    "LayerNorm": lambda: nn.LayerNorm((2, 3)),
    "Attention": lambda: nn.Attention(4, 6, method="additive"),
    "Sequential": lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), nn.Linear(4, 2)),
    "Seq2Seq": lambda: nn.Seq2Seq(nn.GRU(3, 4, bidirectional=True), 6, 7, decoder_layers=2),
    "CharLanguageModel": lambda: CharLanguageModel(7, embedding_dim=3, hidden_size=4,
                                                   num_layers=2),
    "Conv1d": lambda: nn.Conv1d(4, 6, 3, groups=2, dilation=2),
    "Conv2d": lambda: nn.Conv2d(4, 6, (3, 2), groups=2, dilation=2),
    "ModuleList": lambda: nn.ModuleList([nn.Linear(3, 4), nn.Dropout(0.1), nn.GRU(4, 2)]),
    "ModuleDict": lambda: nn.ModuleDict({"a": nn.Linear(3, 4), "b": nn.Embedding(5, 3)}),
}
PARAMETERLESS = {"Dropout", "MaxPool1d", "AvgPool1d", "MaxPool2d", "AvgPool2d",
                 "AdaptiveAvgPool2d", "Flatten"}


def footprint(module):
    """(number of parameters, their bytes in all)."""
    arrays = [param.data for param in module.parameters()]
    return len(arrays), sum(array.nbytes for array in arrays)


def test_every_registered_class_with_parameters_is_covered_here():
    # A new layer must join BUILDERS, so that the test below checks its allocations too.
    # (Other tests register classes of their own; only numrnn's are listed here.)
    numrnn_classes = {name for name, cls in registered_models().items()
                      if cls.__module__.startswith("numrnn.")}
    assert numrnn_classes - PARAMETERLESS <= set(BUILDERS)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_parameter_of_a_layer_is_counted_against_the_limit(name):
    build = BUILDERS[name]
    count, nbytes = footprint(build())

    with limit_parameters(count, nbytes, REASON):
        built = build()
    with pytest.raises(FormatError, match=f"would make {count} parameters.*{REASON}"), \
            limit_parameters(count - 1, nbytes, REASON):
        build()
    with pytest.raises(FormatError, match=f"of {nbytes} bytes in all, past the limit"), \
            limit_parameters(count, nbytes - 1, REASON):
        build()

    assert footprint(built) == (count, nbytes)


def test_a_parameter_past_the_limit_is_refused_before_it_is_allocated():
    # 2**40 x 2**40 float32 is 4 ZiB: only a refusal before np.empty can answer this fast.
    message = (r"Linear: a parameter of shape \(1099511627776, 1099511627776\) float32 would "
               r"make 1 parameters of 4835703278458516698824704 bytes in all, past the limit "
               r"of 10 parameters and 1000 bytes set by the test")
    with pytest.raises(FormatError, match=message), limit_parameters(10, 1000, REASON):
        nn.Linear(2**40, 2**40)


def test_new_parameter_gives_an_unset_parameter_of_the_shape_and_dtype():
    param = nn.new_parameter("Mine", (2, 3), np.float64)
    assert isinstance(param, nn.Parameter) and param.requires_grad
    assert param.shape == (2, 3) and param.dtype == np.float64


def test_limit_holds_in_its_block_and_thread_only():
    built_elsewhere = []
    with limit_parameters(0, 0, REASON):
        with pytest.raises(FormatError):
            nn.Linear(2, 2)
        worker = threading.Thread(target=lambda: built_elsewhere.append(nn.Linear(64, 64)))
        worker.start()
        worker.join()
        with limit_parameters(2, 24, "inner"):
            nn.Linear(2, 2)
        with pytest.raises(FormatError, match=REASON):
            nn.Linear(2, 2)
    assert footprint(nn.Linear(64, 64)) == (2, 64 * 65 * 4)
    assert len(built_elsewhere) == 1
