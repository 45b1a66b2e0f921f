"""Truncated BPTT: the graph is cut at chunk boundaries, the state carries, reset rows restart."""

import numpy as np
import pytest

from numrnn import functional as F
from numrnn import nn
from numrnn.errors import NumrnnError
from numrnn.language_model import CharLanguageModel
from numrnn.optim import SGD
from numrnn.training import (
    StreamChunks,
    TruncatedBPTT,
    batchify,
    evaluate_stream,
    fit,
    reset_state_rows,
)


class Regressor(nn.Module):
    """A recurrent layer plus a linear readout, with the ``(outputs, state)`` convention."""

    def __init__(self, cell, **options):
        super().__init__()
        self.layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](
            2, 5, dtype=np.float64, rng=0, **options)
        self.readout = nn.Linear(5, 1, dtype=np.float64, rng=1)

    def forward(self, inputs, state):
        hidden, state = self.layer(inputs, state)
        return self.readout(hidden), state


def stream(steps=12, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((steps, batch, 2)), rng.standard_normal((steps, batch, 1))


def grads(model):
    return {name: param.grad.copy() for name, param in model.named_parameters()}


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_each_chunk_backpropagates_only_into_itself(cell):
    inputs, targets = stream()
    model = Regressor(cell)
    step = TruncatedBPTT(F.mse_loss)
    chunks = list(StreamChunks(inputs, targets, chunk_length=4))
    step(model, chunks[0])
    model.zero_grad()
    step(model, chunks[1]).backward()
    truncated = grads(model)

    # Reference: the second chunk from the first chunk's final state as a constant.
    model.zero_grad()
    _, carried = model(inputs[:4], None)
    carried = tuple(s.data for s in carried) if cell == "lstm" else carried.data
    model.zero_grad()
    outputs, _ = model(inputs[4:8], carried)
    F.mse_loss(outputs, targets[4:8]).backward()
    for name, value in grads(model).items():
        np.testing.assert_allclose(truncated[name], value, rtol=1e-12, atol=1e-12)

    # Full BPTT through both chunks gives different gradients: the cut is real.
    model.zero_grad()
    outputs, _ = model(inputs[:8], None)
    F.mse_loss(outputs[4:8], targets[4:8]).backward()
    assert not np.allclose(grads(model)["layer.weight_hh_l0"], truncated["layer.weight_hh_l0"])


def test_state_carries_so_forward_values_match_one_long_pass():
    inputs, targets = stream(steps=10)
    model = Regressor("lstm")
    step = TruncatedBPTT(F.mse_loss)
    pieces = [step.run(model, chunk)[0].data for chunk in StreamChunks(inputs, targets, 3)]
    whole, _ = model(inputs, None)
    np.testing.assert_allclose(np.concatenate(pieces), whole.data, rtol=1e-12)


def test_reset_rows_start_from_zeros_and_others_carry():
    inputs, targets = stream(steps=8, batch=3)
    reset = np.zeros((2, 3), dtype=bool)
    reset[1, 1] = True  # row 1 begins a new document at the second chunk
    model = Regressor("gru")
    step = TruncatedBPTT(F.mse_loss)
    outputs = [step.run(model, chunk)[0].data
               for chunk in StreamChunks(inputs, targets, 4, reset_mask=reset)]
    fresh, _ = model(inputs[4:, 1:2], None)
    np.testing.assert_allclose(outputs[1][:, 1], fresh.data[:, 0], rtol=1e-12)
    carried, _ = model(inputs[:, [0, 2]], None)
    np.testing.assert_allclose(outputs[1][:, [0, 2]], carried.data[4:], rtol=1e-12)


def test_reset_mask_may_be_a_callable_and_each_pass_starts_from_zeros():
    inputs, targets = stream(steps=6, batch=2)
    calls = []

    def reset_mask(chunk):
        calls.append(chunk.index)
        return np.array([chunk.index == 1, False])

    chunks = StreamChunks(inputs, targets, 3, reset_mask=reset_mask)
    model = Regressor("rnn")
    step = TruncatedBPTT(F.mse_loss)
    first = [step.run(model, chunk)[0].data for chunk in chunks]
    second = [step.run(model, chunk)[0].data for chunk in chunks]
    np.testing.assert_array_equal(first[0], second[0])
    assert calls == [0, 1, 0, 1]
    fresh, _ = model(inputs[3:, :1], None)
    np.testing.assert_allclose(first[1][:, 0], fresh.data[:, 0], rtol=1e-12)


def test_reset_state_rows_zeroes_the_batch_axis_of_every_tensor():
    from numrnn import tensor

    h = tensor(np.ones((2, 3, 4)))
    c = tensor(np.full((2, 3, 4), 2.0))
    new_h, new_c = reset_state_rows((h, c), np.array([False, True, False]))
    assert (new_h.data[:, 1] == 0).all() and (new_c.data[:, 1] == 0).all()
    assert (new_h.data[:, [0, 2]] == 1).all() and (new_c.data[:, [0, 2]] == 2).all()
    cell_state = reset_state_rows(tensor(np.ones((3, 4))), [True, False, False], batch_axis=0)
    assert cell_state.data[0].sum() == 0 and cell_state.data[1:].sum() == 8


def test_bidirectional_models_are_refused():
    inputs, targets = stream()
    model = Regressor("gru", bidirectional=True)
    with pytest.raises(NumrnnError, match="unidirectional.*'layer' is bidirectional"):
        TruncatedBPTT(F.mse_loss)(model, next(iter(StreamChunks(inputs, targets, 4))))


def test_batchify_lays_out_contiguous_streams():
    streams = batchify(np.arange(10), 3)
    np.testing.assert_array_equal(streams, [[0, 3, 6], [1, 4, 7], [2, 5, 8]])
    chunks = StreamChunks(streams[:-1], streams[1:], 2)
    assert len(chunks) == 1 and next(iter(chunks)).targets[0, 1] == 4
    with pytest.raises(ValueError, match="reset_mask must have shape"):
        StreamChunks(streams[:-1], streams[1:], 1, reset_mask=np.zeros((3, 3)))


def test_fit_with_tbptt_trains_a_language_model_on_a_stream():
    text = "abcabcabcabc" * 30
    ids = np.array([ord(ch) - ord("a") for ch in text])
    streams = batchify(ids, 4)
    chunks = StreamChunks(streams[:-1], streams[1:], 8)
    model = CharLanguageModel(3, embedding_dim=4, hidden_size=16, rng=0)
    before = evaluate_stream(model, chunks, F.cross_entropy)
    history = fit(model, chunks, TruncatedBPTT(F.cross_entropy),
                  SGD(model.parameters(), lr=0.5, momentum=0.9), epochs=4, clip_grad_norm=1.0,
                  validate=lambda m: evaluate_stream(m, chunks, F.cross_entropy),
                  progress=False)
    assert before > 1.0
    assert history.val_metric[-1] < 0.1
