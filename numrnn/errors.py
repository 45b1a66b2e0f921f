"""One exception hierarchy for everything numrnn refuses.

Every message says what was expected and what was got, naming the argument,
tensor or op, e.g. ``LSTM: input feature size must be 64 (input_size), got 128``.
Catch :class:`NumrnnError` to catch them all; the subclasses also derive from the
matching built-in so that ``except ValueError`` keeps working.

Which class a refusal raises depends on what is wrong, not on where it is found:

- :class:`ShapeError`: the data does not fit. An array's number of dimensions or
  its sizes disagree with what is expected (another array, a module's sizes, a
  shape-like argument such as ``shape``, ``axis``, ``axes`` or
  ``normalized_shape``); values inside the data that must fit one of its axes do
  not (token ids against the rows of an embedding, class targets against the
  class axis, sequence lengths against the time axis, a mask that leaves a row
  empty); a state dict's keys, counts or array shapes do not match what loads it.
- :class:`DTypeError`: the dtype of an array, tensor or parameter is wrong,
  unsupported, or differs from another's (float32 against float64, floats where
  integer ids are needed, a mask that is not boolean).
- :class:`ArgumentError`: the value of an argument or option that configures a
  call is refused: out of range (a dropout rate outside [0, 1), a negative
  learning rate, ``hidden_size=0``), an unknown name (a mode, a reduction, a
  nonlinearity), options that contradict each other, a required option missing.
  An option whose range comes from a size (``padding_idx`` against
  ``num_embeddings``) is still an option. A check that covers the type and the
  value in one message ("must be a positive int, got 'x'") raises this class
  whatever made it fail.
- :class:`ArgumentTypeError`: a value is not the kind of Python object that was
  asked for, found by a check of its type alone: a Module, a Tensor or ndarray, a
  numpy Generator, a number, a callable. It is a ``TypeError`` as Python's own
  type checks are, and an :class:`ArgumentError` so that one ``except`` clause
  catches every refused argument; it is not a :class:`DTypeError`, which is kept
  for dtypes.
- :class:`IndexOutOfRangeError`: a subscript (``tensor[i]``, ``sequential[i]``)
  outside its axis.
- :class:`DistributedError`: processes of a distributed run cannot work
  together (:mod:`numrnn.distributed`); :class:`MissingExtraError`: an optional
  dependency is not installed; :class:`UnsupportedDependencyError`: an installed
  dependency is a release numrnn does not work with (raised by ``import numrnn``).
"""


class NumrnnError(Exception):
    """Root of every error numrnn raises on purpose."""


class ShapeError(NumrnnError, ValueError):
    """The data does not fit: wrong dimensions or sizes, or values outside the axis they index."""


class DTypeError(NumrnnError, TypeError):
    """Arrays of different or unsupported dtypes were mixed."""


class ArgumentError(NumrnnError, ValueError):
    """An argument or option has a value the call cannot use."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument is not the kind of Python object asked for (not a dtype problem)."""


class IndexOutOfRangeError(ShapeError, IndexError):
    """An index that does not fit the tensor or container it subscripts.

    It is also an ``IndexError`` because ``Tensor`` has ``__len__`` and
    ``__getitem__`` but no ``__iter__``: ``for row in tensor`` relies on an
    ``IndexError`` to stop.
    """


class GradError(NumrnnError, RuntimeError):
    """A gradient could not be computed: freed graph, bad backward, missing seed."""


class FormatError(NumrnnError):
    """A weight file is malformed, truncated or does not match the module."""


class DistributedError(NumrnnError, RuntimeError):
    """Processes meant to work together cannot: a scheduler out of reach, ranks that disagree.

    Raised by :mod:`numrnn.distributed`; in a data-parallel job every rank raises
    it for the same reason at the same step.
    """


class MissingExtraError(NumrnnError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class UnsupportedDependencyError(NumrnnError, ImportError):
    """An installed dependency is a release numrnn does not work with; the message
    names the releases it needs."""
