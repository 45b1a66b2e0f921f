"""Sampling from a next-token model, one step per token.

The prompt runs through the model once; after that each new token is fed
back as a length-1 sequence together with the carried recurrent state, so
``n`` new tokens cost ``n - 1`` single steps, never a rerun of the prefix.

Any model with the ``logits, state = model(tokens, state)`` convention works
(:class:`numrnn.CharLanguageModel`, or your own): ``tokens`` int (T, B),
``logits`` (T, B, V).
"""

import numbers

import numpy as np

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import ArgumentError, DTypeError, ShapeError


def generate(model, prompt, steps, *, temperature=1.0, top_k=None, rng=None, state=None,
             return_state=False):
    """Sample ``steps`` tokens that continue ``prompt``.

    Parameters
    ----------
    model : Module
        ``logits, state = model(tokens, state)``; run in eval mode (restored
        afterwards) and without gradients.
    prompt : int array (L,) or (L, B)
        At least one token; (L, B) continues B prompts side by side.
    steps : int
        Tokens to generate.
    temperature : float >= 0, default 1.0
        Logits are divided by it before the softmax: below 1 sharpens, above 1
        flattens; 0 means greedy (always the most likely token, no randomness).
    top_k : int, optional
        Sample only among the ``top_k`` most likely tokens.
    rng : numpy Generator, int seed or None
        Source of randomness: the same seed gives the same sample.
    state : optional
        Initial state for the prompt (e.g. from an earlier call with
        ``return_state=True``); None means zeros.
    return_state : bool, default False
        Also return the state after the prompt and every generated token but
        the last (which has not been fed in yet): continue a sample with
        ``generate(model, tokens[-1:], n, state=state)``.

    Returns
    -------
    ndarray of int64, (steps,) or (steps, B) like the prompt; and the state if
    ``return_state``.
    """
    prompt = np.asarray(prompt)
    if prompt.dtype.kind not in "iu":
        raise DTypeError(f"generate: prompt must hold integer token ids, got dtype {prompt.dtype}")
    if prompt.ndim not in (1, 2) or prompt.shape[0] == 0:
        raise ShapeError(f"generate: prompt must be (L,) or (L, B) with L >= 1, "
                         f"got shape {prompt.shape}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ArgumentError(f"generate: steps must be an int >= 0, got {steps!r}")
    if not isinstance(temperature, numbers.Real) or not temperature >= 0:
        raise ArgumentError(f"generate: temperature must be a number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                              or top_k < 1):
        raise ArgumentError(f"generate: top_k must be a positive int or None, got {top_k!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    single = prompt.ndim == 1
    tokens = prompt.astype(np.int64).reshape(prompt.shape[0], -1)

    generated = np.empty((steps, tokens.shape[1]), dtype=np.int64)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            if steps > 0:
                logits, state = _step(model, tokens, state)
            for index in range(steps):
                generated[index] = sample_logits(logits, temperature, top_k, rng)
                if index + 1 < steps:
                    logits, state = _step(model, generated[index:index + 1], state)
    finally:
        model.train(was_training)
    generated = generated[:, 0] if single else generated
    return (generated, state) if return_state else generated


def generate_text(model, prompt, length, *, vocab=None, **options):
    """``length`` characters (tokens) continuing the text ``prompt``, decoded to a string.

    ``vocab`` defaults to ``model.vocab`` (a :class:`numrnn.CharLanguageModel`
    built with one); ``options`` are :func:`generate`'s (temperature, top_k,
    rng). Characters of the prompt unknown to the vocabulary become ``<unk>``.
    """
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    if vocab is None:
        raise ArgumentError("generate_text: the model has no vocab; pass vocab=")
    ids = generate(model, vocab.encode(prompt), length, **options)
    return vocab.decode(ids)


def sample_logits(logits, temperature=1.0, top_k=None, rng=None):
    """One token id per row of ``logits`` (B, V) (the last step of a (T, B, V) Tensor).

    Greedy when ``temperature == 0``; otherwise a draw from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` largest.
    """
    scores = logits.data if isinstance(logits, Tensor) else np.asarray(logits)
    if scores.ndim == 3:
        scores = scores[-1]
    # float64: a float32 cumulative sum over a large vocabulary drifts.
    scores = scores.astype(np.float64)
    if temperature == 0:
        return scores.argmax(axis=1)
    scores = scores / temperature
    rows, vocab_size = scores.shape
    if top_k is not None and top_k < vocab_size:
        # Exactly k per row, even with ties at the k-th value.
        top = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
        kept = np.full_like(scores, -np.inf)
        np.put_along_axis(kept, top, np.take_along_axis(scores, top, axis=1), axis=1)
        scores = kept
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights, axis=1)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    draws = rng.random(rows) * cumulative[:, -1]
    # NOTE: counting entries <= draw picks token j only when cumulative[j-1] <= draw <
    # cumulative[j], i.e. never a zero-weight token; the clip guards float rounding
    # at the very top.
    chosen = (cumulative <= draws[:, None]).sum(axis=1)
    last_positive = (cumulative < cumulative[:, -1:]).sum(axis=1)
    return np.minimum(chosen, last_positive)


def _step(model, tokens, state):
    logits, state = model(tokens, state)
    if not isinstance(logits, Tensor) or logits.ndim != 3 or logits.shape[:2] != tokens.shape:
        shape = logits.shape if isinstance(logits, Tensor) else type(logits).__name__
        raise ShapeError(f"generate: model(tokens, state) must return logits (T, B, V) = "
                         f"{tokens.shape} + (V,) and a state, got {shape}")
    return logits, state
