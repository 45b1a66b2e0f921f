"""Hypothesis profiles, and checks many test files share.

Profiles: ``dev`` explores, ``ci`` is derandomized so CI never flakes. Choose
with NUMRNN_HYPOTHESIS_PROFILE (``.ci/run`` sets ``ci``). The first call of a
jitted kernel compiles for seconds, so no profile has a deadline.
"""

import copy
import os

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import numrnn
from numrnn import nn
from numrnn.testing import gradcheck

settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("NUMRNN_HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def same_bits_for_any_thread_count():
    """``check(step)``: ``step()`` (a list of arrays) gives the same bits on one
    thread and on two (the machine's count if smaller), numrnn's promise for
    every kernel; the thread count is restored after."""
    def check(step):
        previous = numrnn.get_num_threads()
        results = []
        try:
            for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
                numrnn.set_num_threads(threads)
                results.append(step())
        finally:
            numrnn.set_num_threads(previous)
        for a, b in zip(*results):
            # Bits, not values: assert_array_equal takes -0.0 for +0.0.
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()

    return check


@pytest.fixture(scope="session")
def gradcheck_with_masks_held():
    """``check(layer, x, lengths)``: a recurrent layer's outputs and final states
    against central differences in its input and every parameter, its dropout
    masks held fixed (its generator reset to one state before each evaluation,
    so each draws the same masks)."""
    def check(layer, x, lengths):
        names = [name for name, _ in layer.named_parameters()]
        start = copy.deepcopy(layer.rng)

        def run(x, *weights):
            layer.rng = copy.deepcopy(start)
            output, finals = nn.functional_call(layer, dict(zip(names, weights)), (x,),
                                                {"lengths": lengths})
            return (output, *finals) if isinstance(finals, tuple) else (output, finals)

        return gradcheck(run, [x] + [p.data.copy() for _, p in layer.named_parameters()],
                         atol=1e-6, rtol=1e-4)

    return check
