"""JSON from a file that may be hostile: bounded nesting, strict values, short descriptions.

``json.loads`` recurses once per nesting level, so a header of 100,000 nested
brackets raises ``RecursionError``; it turns integers of more than 4300 digits
into a ``ValueError``, and accepts ``NaN``, ``Infinity`` and repeated keys.
:func:`parse_untrusted` measures the nesting first, without recursion, and
turns every refusal into a :class:`FormatError` that names the file.
"""

import json
import math
import re
import reprlib

import numpy as np

from numrnn.errors import FormatError

# Deeper than anything numrnn writes (a header is 3 levels, a Seq2Seq config 5,
# each nested Sequential adds 3) and far below the recursion json.loads survives.
MAX_JSON_DEPTH = 32

# A JSON string, escapes included; what is left outside them is structure. An
# unterminated one runs to the end of the text, so that no match ever fails once
# begun: a failing match would be retried from every later quote, in quadratic time.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")
# Brackets are counted this many at a time, so the scan's memory stays small.
_CHUNK = 1 << 20

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict = 3, 8, 8
_BRIEF.maxstring, _BRIEF.maxlong, _BRIEF.maxother = 80, 60, 80


def nesting_depth(text):
    """How deeply the arrays and objects of the JSON ``text`` nest (0 for a bare value).

    Counts brackets outside strings, with numpy, in time linear in the text and
    without recursion, whatever the text holds; brackets that do not pair up
    are counted as they come (the parse that follows refuses such text).
    """
    outside_strings = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside_strings.translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for start in range(0, len(brackets), _CHUNK):
        codes = np.frombuffer(brackets[start:start + _CHUNK], dtype=np.uint8)
        opens = (codes == ord("[")) | (codes == ord("{"))
        running = depth + np.cumsum(np.where(opens, 1, -1))
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def parse_untrusted(text, where, what):
    """The value of the JSON ``text``, or a :class:`FormatError` saying why not.

    Refused: nesting deeper than :data:`MAX_JSON_DEPTH`, malformed JSON,
    integers past Python's digit limit, ``NaN`` / ``Infinity`` and numbers too
    large for a float (none is JSON, and numrnn never writes one), and an
    object repeating a key (which of the two values counts would be a guess).
    ``where`` (the file) and ``what`` (``"the header"``) start the message.
    """
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise FormatError(f"{where}: {what} nests {depth} levels deep, deeper than "
                          f"{MAX_JSON_DEPTH}: corrupted or hostile")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_object_without_repeats)
    except ValueError as exc:  # JSONDecodeError, the digit limit, and the refusals below
        raise FormatError(f"{where}: {what} is not valid JSON ({_clip(str(exc))})") from exc


def brief(value):
    """A short ``repr`` of ``value`` for a message, however large or deep ``value`` is."""
    return _BRIEF.repr(value)


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{_clip(text)} does not fit a float")
    return number


def _object_without_repeats(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {brief(key)} in one object")
        result[key] = value
    return result


def _clip(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "..."
