"""Autoregressive rollouts: sampling tokens from a next-token model, forecasting a series.

The prompt (or history) runs through the model once; after that each new
output is fed back as a length-1 sequence together with the carried recurrent
state, so ``n`` new steps cost ``n - 1`` single steps, never a rerun of the
prefix.

Any callable with the ``outputs, state = model(inputs, state)`` convention
works: a :class:`~numrnn.nn.Module` (:class:`numrnn.CharLanguageModel`, or
your own), which is run in eval mode and put back as it was (as is any object
with ``eval`` and ``train`` methods), or a plain function. For
:func:`generate`, ``inputs`` are int token ids (T, B) and the outputs logits
(T, B, V); for :func:`forecast`, both are float (T, B, F).

A model with a ``stepper(batch_size, state)`` method that returns an object
(:meth:`numrnn.CharLanguageModel.stepper`) is fed through it instead, one
token at a time, prompt included: ``feed(tokens)`` returns the logits after
the last of ``tokens`` (T, B) and ``state`` the state after all fed so far.
``stepper`` returning None means "call the model".
"""

from __future__ import annotations

import contextlib
import numbers
from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import no_grad
from numrnn.autograd.tensor import Tensor
from numrnn.defaults import default_generator
from numrnn.errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError

if TYPE_CHECKING:
    from typing import Any

    from numrnn.data.vocab import CharVocab
    from numrnn.nn.module import Module
    from numrnn.typing import IntArray, Seed, TensorLike


def generate(model: Module, prompt: TensorLike, steps: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, rng: Seed = None,
             state: Any = None, return_state: bool = False) -> Any:
    """Sample ``steps`` tokens that continue ``prompt``.

    Parameters
    ----------
    model : callable
        ``logits, state = model(tokens, state)`` with ``tokens`` int (T, B) and
        ``logits`` a Tensor or ndarray (T, B, V). Run without gradients; a
        Module also in eval mode, restored afterwards.
    prompt : int array (L,) or (L, B)
        At least one token; (L, B) continues B prompts side by side.
    steps : int
        Tokens to generate.
    temperature : float >= 0, default 1.0
        Logits are divided by it before the softmax: below 1 sharpens, above 1
        flattens; 0 means greedy (always the most likely token, no randomness).
    top_k : int, optional
        Sample only among the ``top_k`` most likely tokens.
    top_p : float in (0, 1], optional
        Nucleus sampling (Holtzman et al., 2020): sample only among the most
        likely tokens whose probabilities, after ``temperature`` and
        ``top_k``, add up to at least ``top_p`` (always at least one). 1 keeps
        every token.
    rng : numpy Generator, int seed or None
        Source of randomness: the same seed gives the same sample. None draws
        from numrnn's default generator (see :func:`numrnn.manual_seed`).
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
    _check_sampling("generate", top_k, top_p)
    _check_model("generate", model)
    rng = _generator(rng)
    single = prompt.ndim == 1
    tokens = prompt.astype(np.int64).reshape(prompt.shape[0], -1)

    generated = np.empty((steps, tokens.shape[1]), dtype=np.int64)
    with _evaluating(model):
        stepper = _stepper(model, tokens.shape[1], state) if steps > 0 else None
        if stepper is not None:
            logits = stepper.feed(tokens)
        elif steps > 0:
            logits, state = _step(model, tokens, state)
        for index in range(steps):
            generated[index] = sample_logits(logits, temperature, top_k, rng, top_p=top_p)
            if index + 1 < steps:
                if stepper is not None:
                    logits = stepper.feed(generated[index:index + 1])
                else:
                    logits, state = _step(model, generated[index:index + 1], state)
        if stepper is not None:
            state = stepper.state
    generated = generated[:, 0] if single else generated
    return (generated, state) if return_state else generated


def generate_text(model: Module, prompt: str, length: int, *, vocab: CharVocab | None = None,
                  **options: Any) -> str:
    """``length`` characters (tokens) continuing the text ``prompt``, decoded to a string.

    ``vocab`` defaults to ``model.vocab`` (a :class:`numrnn.CharLanguageModel`
    built with one); ``options`` are :func:`generate`'s (temperature, top_k,
    top_p, rng). Characters of the prompt unknown to the vocabulary become ``<unk>``.
    """
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    if vocab is None:
        raise ArgumentError("generate_text: the model has no vocab; pass vocab=")
    ids = generate(model, vocab.encode(prompt), length, **options)
    return vocab.decode(ids)


def sample_logits(logits: TensorLike, temperature: float = 1.0, top_k: int | None = None,
                  rng: Seed = None, *, top_p: float | None = None) -> IntArray:
    """One token id per row of ``logits`` (B, V) (the last step of a (T, B, V) Tensor).

    Greedy when ``temperature == 0``; otherwise a draw from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` largest and
    then to the nucleus of probability ``top_p`` (see :func:`generate`).
    """
    _check_sampling("sample_logits", top_k, top_p)
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
    if top_p is not None and top_p < 1:
        weights = _nucleus(weights, top_p)
    cumulative = np.cumsum(weights, axis=1)
    rng = _generator(rng)
    draws = rng.random(rows) * cumulative[:, -1]
    # NOTE: counting entries <= draw picks token j only when cumulative[j-1] <= draw <
    # cumulative[j], i.e. never a zero-weight token; the clip guards float rounding
    # at the very top.
    chosen = (cumulative <= draws[:, None]).sum(axis=1)
    last_positive = (cumulative < cumulative[:, -1:]).sum(axis=1)
    return np.minimum(chosen, last_positive)


def _nucleus(weights, top_p):
    """``weights`` with zeros outside each row's smallest most-likely set of mass >= top_p."""
    probabilities = weights / weights.sum(axis=1, keepdims=True)
    # Stable: among equal probabilities the lower token id joins the nucleus first.
    order = np.argsort(-probabilities, axis=1, kind="stable")
    ranked = np.take_along_axis(probabilities, order, axis=1)
    # A token stays while the mass before it is short of top_p, so the most likely
    # one always stays and the nucleus stops at the first token that reaches top_p.
    before = np.cumsum(ranked, axis=1) - ranked
    keep = np.zeros_like(weights, dtype=bool)
    np.put_along_axis(keep, order, before < top_p, axis=1)
    return np.where(keep, weights, 0.0)


def forecast(model: Module, history: TensorLike, horizon: int, *, state: Any = None,
             return_state: bool = False) -> Any:
    """Predict ``horizon`` steps past ``history`` by feeding each prediction back as the next input.

    The history runs through the model in one call (teacher forcing: the
    model sees the true values); its last output is the first prediction.
    Each prediction is then fed in as the next input, one step at a time, with
    the carried state.

    Parameters
    ----------
    model : callable
        ``outputs, state = model(inputs, state)`` with ``inputs`` float
        (T, B, F) and ``outputs`` a Tensor or ndarray (T, B, F) whose step
        ``t`` predicts the input of step ``t + 1``: a one-step-ahead
        regressor, such as an LSTM followed by a ``Linear(hidden, F)``.
        ``state`` is whatever the model needs back (None at first). Run
        without gradients; a Module also in eval mode, restored afterwards.
    history : float array (T, F) or (T, B, F)
        The observed series, T >= 1 steps of F features (B series side by side).
    horizon : int >= 0
        Steps to predict.
    state : optional
        State to start the history from; None means the model's default.
    return_state : bool, default False
        Also return the state after the history and every prediction but the
        last (which has not been fed in yet), to continue later with
        ``forecast(model, predictions[-1:], n, state=state)``.

    Returns
    -------
    ndarray (horizon, F) or (horizon, B, F) like ``history``, of its dtype; and
    the state if ``return_state``.
    """
    history = history.data if isinstance(history, Tensor) else np.asarray(history)
    if history.dtype not in (np.float32, np.float64):
        raise DTypeError(f"forecast: history must be float32 or float64, got dtype "
                         f"{history.dtype}")
    if history.ndim not in (2, 3) or history.shape[0] == 0:
        raise ShapeError(f"forecast: history must be (T, F) or (T, B, F) with T >= 1, got shape "
                         f"{history.shape}")
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 0:
        raise ArgumentError(f"forecast: horizon must be an int >= 0, got {horizon!r}")
    _check_model("forecast", model)
    single = history.ndim == 2
    inputs = history[:, None, :] if single else history
    predictions = np.empty((horizon,) + inputs.shape[1:], dtype=history.dtype)
    with _evaluating(model):
        if horizon > 0:
            outputs, state = _forecast_step(model, inputs, state)
        for index in range(horizon):
            predictions[index] = outputs[-1]
            if index + 1 < horizon:
                outputs, state = _forecast_step(model, predictions[index:index + 1], state)
    predictions = predictions[:, 0] if single else predictions
    return (predictions, state) if return_state else predictions


def _forecast_step(model, inputs, state):
    result = model(inputs, state)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ShapeError(f"forecast: model(inputs, state) must return (outputs, state), got "
                         f"{type(result).__name__}")
    outputs, state = result
    array = outputs.data if isinstance(outputs, Tensor) else np.asarray(outputs)
    if array.shape != inputs.shape:
        raise ShapeError(f"forecast: model(inputs, state) must return outputs of the inputs' "
                         f"shape (T, B, F) = {inputs.shape}, the next step of each feature, "
                         f"got shape {array.shape}")
    return array, state


def _stepper(model, batch, state):
    """The model's own one-token stepper (:meth:`numrnn.CharLanguageModel.stepper`), or None."""
    make = getattr(model, "stepper", None)
    return make(batch, state) if callable(make) else None


def _step(model, tokens, state):
    result = model(tokens, state)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ShapeError(f"generate: model(tokens, state) must return (logits, state), got "
                         f"{type(result).__name__}")
    logits, state = result
    shape = logits.shape if isinstance(logits, (Tensor, np.ndarray)) else None
    if shape is None or len(shape) != 3 or shape[:2] != tokens.shape:
        raise ShapeError(f"generate: model(tokens, state) must return logits (T, B, V) = "
                         f"{tokens.shape} + (V,) and a state, got "
                         f"{shape if shape is not None else type(logits).__name__}")
    return logits, state


def _generator(rng: Seed) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return default_generator() if rng is None else np.random.default_rng(rng)


def _check_model(caller, model):
    if not callable(model):
        raise ArgumentTypeError(f"{caller}: model must be callable as outputs, state = "
                                f"model(inputs, state), got {type(model).__name__}")


def _check_sampling(caller, top_k, top_p):
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                              or top_k < 1):
        raise ArgumentError(f"{caller}: top_k must be a positive int or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, numbers.Real)
                              or not 0 < top_p <= 1):
        raise ArgumentError(f"{caller}: top_p must be a number in (0, 1] or None, got {top_p!r}")


@contextlib.contextmanager
def _evaluating(model):
    """No gradients; a model with ``eval`` and ``train`` (a Module) in eval mode meanwhile."""
    switches = callable(getattr(model, "eval", None)) and callable(getattr(model, "train", None))
    was_training = bool(getattr(model, "training", False))
    if switches:
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        if switches:
            model.train(was_training)
