"""The LSTM's gate loops count no array references per block and step.

A kernel that takes arrays increments each one's reference count on entry and
decrements it on exit, unless numba can prune the pair; a row view chosen
between two arrays, or a call numba cannot see into, keeps a pair per loop
iteration. Those counts are atomic operations on memory that the other
block's thread counts too: called once per row and step, the forward's and
the backward's row kernels spent as long on them as on the gate arithmetic
of a 64-unit row (docs/performance.md, "Reference counts in the LSTM's gate
loops"). Results do not show this; the compiled code does.
"""

import re

import numba
import numpy as np

from numrnn.kernels import lstm, lstm_backward


def _function_ir(dispatcher, name):
    """The LLVM IR of the function ``name`` that ``dispatcher``'s compilation links in."""
    (module,) = dispatcher.inspect_llvm().values()
    pattern = r"^define[^\n]*" + re.escape(name) + r"[^\n]*\{.*?^\}"
    match = re.search(pattern, module, re.S | re.M)
    assert match is not None, f"{name} not linked into {dispatcher.py_func.__name__}"
    return match.group(0)


def test_the_forward_gate_loop_counts_no_references():
    @numba.njit
    def call(preactivations, bias, lengths, joint, c_state, output, gates, cells):
        lstm._joint_step_rows(np.int64(0), np.int64(2), np.int64(0), preactivations, bias,
                              lengths, False, joint, c_state, output, gates, cells, True)

    hidden, f32 = 16, np.float32
    call(np.zeros((2, 4 * hidden), f32), np.zeros(4 * hidden, f32), np.ones(2, np.int64),
         np.zeros((2, 3 + hidden), f32), np.zeros((2, hidden), f32),
         np.zeros((1, 2, hidden), f32), np.zeros((1, 2, 4 * hidden), f32),
         np.zeros((1, 2, hidden), f32))
    code = _function_ir(call, "_joint_step_rows")
    assert "NRT_incref" not in code and "NRT_decref" not in code


def test_the_backward_gate_loop_counts_no_references():
    @numba.njit
    def call(grad_output, grad_h_n, lengths, h0, c0, output, gates, cells, grad_cells, grad_c,
             grad_gates, prev_hidden, grad_h_prev, step_grad, c_prev):
        lstm_backward._backward_rows(np.int64(0), np.int64(2), np.int64(0), grad_output,
                                     grad_h_n, lengths, False, h0, c0, output, gates, cells,
                                     grad_cells, grad_c, grad_gates, prev_hidden, grad_h_prev,
                                     step_grad, c_prev)

    hidden, f32 = 16, np.float32
    rows = np.zeros((2, hidden), f32)
    steps = np.zeros((1, 2, hidden), f32)
    call(steps, rows, np.ones(2, np.int64), rows, rows, steps, np.zeros((1, 2, 4 * hidden), f32),
         steps, np.zeros((0, 0, 0), f32), rows.copy(), np.zeros((1, 2, 4 * hidden), f32),
         steps.copy(), rows.copy(), np.zeros((2, 4 * hidden), f32), rows.copy())
    code = _function_ir(call, "_backward_rows")
    assert "NRT_incref" not in code and "NRT_decref" not in code
