"""Decoding a :class:`~numrnn.nn.seq2seq.Seq2Seq`: greedy search and batched beam search.

Both run under ``no_grad`` on a batch of sources ``(S, B)`` with their lengths,
stop a row at ``<eos>`` or after ``max_length`` tokens, and return a
:class:`DecodeResult`. Each row is decoded independently of the others: the
source padding gets exactly zero attention and every row keeps its own
hypotheses, so decoding a batch gives what decoding each source alone gives.

Scores
------
``log_probs`` is the total log-probability of the returned tokens (``<eos>``
included); ``scores = log_probs / lp(length)`` with GNMT's length penalty
(Wu et al., 2016) ``lp(L) = ((5 + L) / 6) ** alpha``. ``alpha = 0`` ranks by
total log-probability, which favours short outputs; ``alpha`` around 0.6-1
evens that out.

Beam search keeps the ``beam_size`` best partial hypotheses of each row by
total log-probability. A hypothesis that chooses ``<eos>`` leaves the beam and
joins the row's finished list (its slot is refilled from the others at the next
step); a row stops once it has ``beam_size`` finished hypotheses, or at
``max_length``, when its unfinished ones join the list too. The best finished
one by ``scores`` is returned. Because ``<eos>`` competes with the other tokens
for the beam, ``beam_size=1`` is exactly greedy search.

Call ``model.eval()`` first when the model has dropout.

Other models
------------
Both searches use only these parts of ``model``, so any Module offering them
decodes the same way (``examples/image_captioning.py`` decodes pictures):
``encode(src, src_lengths)`` returning ``(memory, state)``, an
:class:`~numrnn.nn.attention.AttentionMemory` and a state with ``select(rows)``
(such as :class:`~numrnn.nn.seq2seq.DecoderState`); ``decode_step(tokens,
state, memory)`` returning ``(attentional, state, weights)``; ``output``,
mapping ``attentional`` to logits; and the attributes ``bos_index``,
``eos_index``, ``pad_index`` and ``dtype``. ``src`` and ``src_lengths`` are
handed to ``encode`` as they are; ``src_lengths`` may be None when
``max_length`` is given.
"""

from typing import NamedTuple

import numpy as np

from numrnn import functional as F
from numrnn.autograd.grad_mode import no_grad
from numrnn.errors import ArgumentError
from numrnn.functional.checks import data_of

__all__ = ["DecodeResult", "beam_search", "greedy_search", "length_penalty"]


class DecodeResult(NamedTuple):
    """What decoding returns, batch-major.

    tokens : int64 (B, L), the output ids with ``<eos>`` (when reached), then ``pad_index``
    lengths : int64 (B,), tokens per row, ``<eos>`` included
    scores : float64 (B,), ``log_probs / lp(lengths)``
    log_probs : float64 (B,)
    attention : (B, L, S), the attention weights that produced each token (0 past the end)
    ended : bool (B,), whether the row ended with ``<eos>`` (False: cut at ``max_length``)
    """

    tokens: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    log_probs: np.ndarray
    attention: np.ndarray
    ended: np.ndarray


def length_penalty(lengths, alpha):
    """GNMT's ``((5 + L) / 6) ** alpha``; 1 for ``alpha = 0``."""
    return ((5.0 + np.asarray(lengths, dtype=np.float64)) / 6.0) ** alpha


def _check_options(src_lengths, max_length, alpha, beam_size=1):
    if isinstance(beam_size, bool) or not isinstance(beam_size, (int, np.integer)) \
            or beam_size < 1:
        raise ArgumentError(f"beam_search: beam_size must be a positive int, got {beam_size!r}")
    if not np.isfinite(alpha) or alpha < 0:
        raise ArgumentError(f"decode: alpha must be a finite number >= 0, got {alpha!r}")
    if max_length is None:
        if src_lengths is None:
            raise ArgumentError("decode: max_length is needed when src_lengths is None (a "
                                "source without lengths gives no default output length)")
        # Outputs are rarely much longer than their inputs; the margin covers short ones.
        return 2 * int(np.max(data_of(src_lengths))) + 10
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) \
            or max_length < 1:
        raise ArgumentError(f"decode: max_length must be a positive int, got {max_length!r}")
    return int(max_length)


def _log_probs(model, tokens, state, memory):
    """One decoder step: float64 log-probabilities (N, V), the new state, weights (N, S)."""
    attentional, state, weights = model.decode_step(tokens, state, memory)
    log_probs = F.log_softmax(model.output(attentional), axis=-1).data
    return log_probs.astype(np.float64), state, weights.data


def greedy_search(model, src, src_lengths, max_length=None, alpha=0.0):
    """Pick the most likely token at every step, for every row of the batch at once.

    ``src`` ``(S, B)`` ids, ``src_lengths`` ``(B,)``; ``max_length`` defaults to
    ``2 * max(src_lengths) + 10``; ``alpha`` only changes the reported ``scores``.
    """
    max_length = _check_options(src_lengths, max_length, alpha)
    with no_grad():
        memory, state = model.encode(src, src_lengths)
        batch, steps = memory.batch_size, memory.steps
        tokens = np.full(batch, model.bos_index, dtype=np.int64)
        out = np.full((batch, max_length), model.pad_index, dtype=np.int64)
        attention = np.zeros((batch, max_length, steps), dtype=model.dtype)
        log_probs = np.zeros(batch)
        lengths = np.zeros(batch, dtype=np.int64)
        ended = np.zeros(batch, dtype=bool)
        for step in range(max_length):
            step_log_probs, state, weights = _log_probs(model, tokens, state, memory)
            # argmax of the running totals, exactly what a one-wide beam compares.
            candidates = log_probs[:, None] + step_log_probs
            best = np.argmax(candidates, axis=1)
            alive = ~ended
            out[alive, step] = best[alive]
            attention[alive, step] = weights[alive]
            log_probs[alive] = candidates[alive, best[alive]]
            lengths[alive] += 1
            ended |= best == model.eos_index
            if ended.all():
                break
            tokens = best
    width = int(lengths.max())
    return DecodeResult(out[:, :width], lengths, log_probs / length_penalty(lengths, alpha),
                        log_probs, attention[:, :width], ended)


def beam_search(model, src, src_lengths, beam_size=5, max_length=None, alpha=0.0):
    """Batched beam search; see the module docstring for the rules.

    ``src`` ``(S, B)`` ids, ``src_lengths`` ``(B,)``; every row gets
    ``beam_size`` beams, decoded together as one batch of ``B * beam_size``.
    """
    max_length = _check_options(src_lengths, max_length, alpha, beam_size)
    width = int(beam_size)
    with no_grad():
        memory, state = model.encode(src, src_lengths)
        batch, steps = memory.batch_size, memory.steps
        copies = np.repeat(np.arange(batch), width)
        memory, state = memory.select(copies), state.select(copies)
        # Only beam 0 is alive at first: identical beams would fill the beam with copies.
        totals = np.full((batch, width), -np.inf)
        totals[:, 0] = 0.0
        history = np.zeros((batch, width, 0), dtype=np.int64)
        history_attention = np.zeros((batch, width, 0, steps), dtype=model.dtype)
        tokens = np.full(batch * width, model.bos_index, dtype=np.int64)
        finished = [[] for _ in range(batch)]
        done = np.zeros(batch, dtype=bool)
        for step in range(max_length):
            step_log_probs, state, weights = _log_probs(model, tokens, state, memory)
            vocab = step_log_probs.shape[1]
            candidates = (totals[:, :, None] + step_log_probs.reshape(batch, width, vocab))
            candidates = candidates.reshape(batch, width * vocab)
            # A stable sort breaks ties by lowest index, as np.argmax does in greedy search.
            top = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
            totals = np.take_along_axis(candidates, top, axis=1)
            origin, chosen = top // vocab, top % vocab
            history = np.concatenate(
                [np.take_along_axis(history, origin[:, :, None], axis=1), chosen[:, :, None]],
                axis=2)
            step_attention = np.take_along_axis(weights.reshape(batch, width, steps),
                                                origin[:, :, None], axis=1)
            history_attention = np.concatenate(
                [np.take_along_axis(history_attention, origin[:, :, None, None], axis=1),
                 step_attention[:, :, None, :]], axis=2)
            last = step == max_length - 1
            for row in np.flatnonzero(~done):
                for beam in range(width):
                    if not np.isfinite(totals[row, beam]):
                        continue
                    ended = chosen[row, beam] == model.eos_index
                    if ended or last:
                        finished[row].append((totals[row, beam], history[row, beam],
                                              history_attention[row, beam], ended))
                    if ended:
                        totals[row, beam] = -np.inf
                done[row] = last or len(finished[row]) >= width \
                    or not np.isfinite(totals[row]).any()
            totals[done] = -np.inf
            if done.all():
                break
            state = state.select((np.arange(batch)[:, None] * width + origin).ravel())
            tokens = chosen.ravel()
    return _best_hypotheses(finished, alpha, model.pad_index, steps, model.dtype)


def _best_hypotheses(finished, alpha, pad_index, steps, dtype):
    best = []
    for hypotheses in finished:
        scores = [total / length_penalty(len(tokens), alpha)
                  for total, tokens, _, _ in hypotheses]
        best.append(hypotheses[int(np.argmax(scores))])
    batch = len(best)
    lengths = np.array([len(tokens) for _, tokens, _, _ in best], dtype=np.int64)
    width = int(lengths.max())
    tokens = np.full((batch, width), pad_index, dtype=np.int64)
    attention = np.zeros((batch, width, steps), dtype=dtype)
    for row, (_, row_tokens, row_attention, _) in enumerate(best):
        tokens[row, :len(row_tokens)] = row_tokens
        attention[row, :len(row_tokens)] = row_attention
    log_probs = np.array([total for total, _, _, _ in best], dtype=np.float64)
    ended = np.array([flag for _, _, _, flag in best], dtype=bool)
    return DecodeResult(tokens, lengths, log_probs / length_penalty(lengths, alpha), log_probs,
                        attention, ended)
