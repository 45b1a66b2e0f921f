"""``help()`` of the recurrent layers says what ``lengths`` does and gives every shape.

A user who types ``help(nn.LSTM)`` should not need the module's source: the class
lists its constructor arguments and ``forward`` its inputs, outputs and padding.
"""

import pydoc

import pytest

from numrnn import nn


@pytest.mark.parametrize("layer", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda layer: layer.__name__)
def test_help_gives_arguments_shapes_and_lengths(layer):
    text = " ".join(pydoc.render_doc(layer, renderer=pydoc.plaintext).replace("|", " ").split())
    for argument in ("input_size", "hidden_size", "num_layers", "batch_first", "bidirectional",
                     "dropout", "dtype", "rng", "recurrent_init"):
        assert f"{argument} :" in text, argument
    assert "lengths : int array (B,)" in text
    assert "Steps past a row's length give zero outputs" in text
    assert "(T, B, input_size)" in text and "(T, B, num_directions * H)" in text
    assert "(num_layers * num_directions, B, H)" in text
