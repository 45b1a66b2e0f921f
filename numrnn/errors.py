"""One exception hierarchy for everything numrnn refuses.

Every message says what was expected and what was got, naming the argument,
tensor or op, e.g. ``LSTM: input feature size must be 64 (input_size), got 128``.
Catch :class:`NumrnnError` to catch them all; the subclasses also derive from the
matching built-in so that ``except ValueError`` keeps working.
"""


class NumrnnError(Exception):
    """Root of every error numrnn raises on purpose."""


class ShapeError(NumrnnError, ValueError):
    """An array has the wrong number of dimensions or the wrong size."""


class DTypeError(NumrnnError, TypeError):
    """Arrays of different or unsupported dtypes were mixed."""


class GradError(NumrnnError, RuntimeError):
    """A gradient could not be computed: freed graph, bad backward, missing seed."""


class FormatError(NumrnnError):
    """A weight file is malformed, truncated or does not match the module."""
