"""Whether the current thread records operations for backward.

The flag is thread-local: a server thread running inference under ``no_grad``
never switches recording off for a training thread beside it.
"""

import functools
import threading

_state = threading.local()


def is_grad_enabled():
    """True when operations on this thread are being recorded."""
    return getattr(_state, "enabled", True)


def _set_grad_enabled(enabled):
    previous = is_grad_enabled()
    _state.enabled = enabled
    return previous


class _GradMode:
    """Context manager and decorator that sets recording on or off."""

    enabled = True

    def __init__(self):
        # One instance may be entered by several threads (a module-level
        # ``quiet = no_grad()``), so each thread keeps its own previous states.
        self._previous = threading.local()

    def __enter__(self):
        stack = self._previous.__dict__.setdefault("stack", [])
        stack.append(_set_grad_enabled(self.enabled))
        return self

    def __exit__(self, *exc_info):
        _set_grad_enabled(self._previous.stack.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Record nothing: the zero-overhead inference path.

    Use as ``with numrnn.no_grad(): ...`` or as a decorator ``@numrnn.no_grad()``.
    """

    enabled = False


class enable_grad(_GradMode):
    """Record again inside a ``no_grad`` block."""

    enabled = True
