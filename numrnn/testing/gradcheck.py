"""Check a gradient rule against central finite differences, in float64.

Small problems get the whole Jacobian compared entry by entry (one backward per
output element, two forward calls per input element). Larger ones get random
directional checks in the spirit of HIPS autograd's ``check_grads``: for random
unit-norm ``u`` (inputs) and ``v`` (outputs), ``v^T J u`` from one backward is
compared with ``(v . f(x + eps u) - v . f(x - eps u)) / (2 eps)``, which costs
O(1) forward calls however many parameters there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from numrnn.autograd.grad_mode import enable_grad
from numrnn.autograd.tensor import Tensor
from numrnn.errors import DTypeError, GradError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from numrnn.typing import TensorLike

FULL_JACOBIAN_LIMIT = 4096  # input elements x output elements


def gradcheck(fn: Callable[..., Any], inputs: Sequence[TensorLike], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, directions: int = 4, seed: int = 0,
              full_jacobian_limit: int = FULL_JACOBIAN_LIMIT) -> bool:
    """Verify that ``fn``'s backward matches central differences.

    Parameters
    ----------
    fn : callable
        Takes Tensors (one per entry of ``inputs``) and returns a Tensor or a
        tuple of Tensors.
    inputs : sequence
        float64 ndarrays or Tensors are differentiated (a Tensor only when it has
        ``requires_grad=True``); anything else (integer arrays, None, numbers) is
        passed through unchanged.
    eps, atol, rtol : float
        Step of the central difference; an entry passes when
        ``|analytic - numeric| <= atol + rtol * |numeric|``.
    directions : int
        Random directions tried when the problem is too big for the full Jacobian.

    Returns
    -------
    bool
        True when every entry passes.

    Raises
    ------
    GradError
        Describing the worst mismatch (which input, which element or direction,
        both values).
    """
    values, wrt = _prepare(inputs)
    rng = np.random.default_rng(seed)

    def evaluate(arrays):
        with enable_grad():
            call_inputs = list(values)
            for index, array in zip(wrt, arrays):
                call_inputs[index] = Tensor(array, requires_grad=True)
            outputs = fn(*call_inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return call_inputs, [out for out in outputs if out is not None]

    base = [values[i].copy() for i in wrt]
    _, outputs = evaluate(base)
    n_in = sum(a.size for a in base)
    n_out = sum(out.data.size for out in outputs)
    if n_in * n_out <= full_jacobian_limit:
        _check_full_jacobian(evaluate, base, outputs, eps, atol, rtol, wrt)
    else:
        _check_directions(evaluate, base, outputs, eps, atol, rtol, directions, rng)
    return True


def _prepare(inputs):
    values, wrt = [], []
    for index, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if not x.requires_grad:
                values.append(x)
                continue
            x = x.data
        elif not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
            values.append(x)
            continue
        if x.dtype != np.float64:
            raise DTypeError(f"gradcheck: input {index} must be float64, got {x.dtype}")
        values.append(np.array(x, dtype=np.float64))
        wrt.append(index)
    if not wrt:
        raise GradError("gradcheck: no float64 input to differentiate")
    return values, wrt


def _vjp(evaluate, arrays, cotangents):
    """Analytic v^T J for each differentiated input (zeros where no path exists).

    Each output is seeded with its own cotangent directly, so the check relies on
    no op other than the ones under test.
    """
    call_inputs, outputs = evaluate(arrays)
    for out, v in zip(outputs, cotangents):
        if out.requires_grad:
            out.backward(v, retain_graph=True)
    leaves = [t for t in call_inputs if isinstance(t, Tensor) and t.is_leaf and t.requires_grad]
    return [np.zeros_like(a) if t.grad is None else t.grad for a, t in zip(arrays, leaves)]


def _project(outputs, cotangents):
    return sum(float(np.sum(out.data * v)) for out, v in zip(outputs, cotangents))


def _check_full_jacobian(evaluate, base, outputs, eps, atol, rtol, wrt):
    shapes = [out.data.shape for out in outputs]
    n_out = sum(out.data.size for out in outputs)
    numeric = _numeric_jacobian(evaluate, base, n_out, eps)  # per input: (n_out, input size)
    worst = None
    row = 0
    for out_index, shape in enumerate(shapes):
        for out_flat in range(int(np.prod(shape, dtype=np.int64))):
            cotangents = [np.zeros(s) for s in shapes]
            cotangents[out_index].flat[out_flat] = 1.0
            analytic = _vjp(evaluate, base, cotangents)
            for k, array in enumerate(base):
                got_row = analytic[k].ravel()
                want_row = numeric[k][row]
                errors = np.abs(got_row - want_row) - (atol + rtol * np.abs(want_row))
                if errors.size == 0:
                    continue
                in_flat = int(np.argmax(errors))
                if worst is None or errors[in_flat] > worst[0]:
                    worst = (errors[in_flat], wrt[k], _position(in_flat, array.shape),
                             out_index, _position(out_flat, shape), float(got_row[in_flat]),
                             float(want_row[in_flat]))
            row += 1
    if worst is not None and worst[0] > 0:
        _, input_index, in_pos, out_index, out_pos, got, numeric_value = worst
        raise GradError(
            f"gradcheck: d(output {out_index}{out_pos})/d(input {input_index}"
            f"{in_pos}) is {got!r} by backward but {numeric_value!r} by central "
            "differences (worst mismatch)"
        )


def _numeric_jacobian(evaluate, base, n_out, eps):
    """Central-difference Jacobian of all outputs (flattened, concatenated) per input."""
    def flat_outputs(arrays):
        return np.concatenate([out.data.ravel() for out in evaluate(arrays)[1]])

    jacobians = []
    for k, array in enumerate(base):
        columns = []
        for in_flat in range(array.size):
            shifted = []
            for sign in (+1, -1):
                arrays = [a.copy() for a in base]
                arrays[k].flat[in_flat] += sign * eps
                shifted.append(flat_outputs(arrays))
            columns.append((shifted[0] - shifted[1]) / (2 * eps))
        jacobians.append(np.stack(columns, axis=1) if columns else np.zeros((n_out, 0)))
    return jacobians


def _position(flat_index, shape):
    return [int(i) for i in np.unravel_index(flat_index, shape)]


def _numeric_directional(evaluate, base, direction, cotangents, eps):
    """Central difference of v . f(x) along ``direction`` (one array per input)."""
    def shifted(sign):
        arrays = [a + sign * eps * d for a, d in zip(base, direction)]
        return _project(evaluate(arrays)[1], cotangents)

    return (shifted(+1) - shifted(-1)) / (2 * eps)


def _unit(rng, shapes):
    parts = [rng.standard_normal(s) for s in shapes]
    norm = np.sqrt(sum(float(np.sum(p * p)) for p in parts)) or 1.0
    return [p / norm for p in parts]


def _check_directions(evaluate, base, outputs, eps, atol, rtol, directions, rng):
    for trial in range(directions):
        direction = _unit(rng, [a.shape for a in base])
        cotangents = _unit(rng, [out.data.shape for out in outputs])
        analytic_grads = _vjp(evaluate, base, cotangents)
        analytic = sum(float(np.sum(g * d)) for g, d in zip(analytic_grads, direction))
        numeric = _numeric_directional(evaluate, base, direction, cotangents, eps)
        if abs(analytic - numeric) > atol + rtol * abs(numeric):
            raise GradError(
                f"gradcheck: directional derivative v^T J u (trial {trial}) is {analytic!r} "
                f"by backward but {numeric!r} by central differences"
            )
