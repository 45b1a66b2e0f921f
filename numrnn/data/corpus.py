"""A real text corpus that every Python install carries: its standard library's source.

Handy for character-level language models in tests and demos: no download,
megabytes of varied, structured text, and the same text for the same Python
version.
"""

from __future__ import annotations

import os
import sysconfig
from typing import TYPE_CHECKING

from numrnn.errors import ArgumentError, NumrnnError

if TYPE_CHECKING:
    from collections.abc import Sequence

# Pure-Python modules present (as source) from Python 3.8 through 3.13, chosen
# for plain, well-commented code; packages contribute all their .py files.
DEFAULT_MODULES = (
    "abc", "argparse", "bisect", "calendar", "collections", "contextlib", "copy", "csv",
    "dataclasses", "difflib", "enum", "fractions", "functools", "heapq", "inspect", "json",
    "pprint", "queue", "random", "shutil", "statistics", "string", "textwrap", "typing",
)
"""The standard-library modules whose source ``stdlib_corpus`` reads by default."""


class CorpusNotFoundError(NumrnnError, FileNotFoundError):
    """The standard library's source files are not where the interpreter says they are."""


def stdlib_dir() -> str:
    """Directory of the running interpreter's standard library source."""
    return sysconfig.get_paths()["stdlib"]


def _module_files(root, module):
    """Source files of ``module`` under ``root``, in a fixed order, or [] if absent."""
    relative = module.replace(".", os.sep)
    single = os.path.join(root, relative + ".py")
    if os.path.isfile(single):
        return [single]
    package = os.path.join(root, relative)
    if not os.path.isfile(os.path.join(package, "__init__.py")):
        return []
    files = []
    for directory, subdirectories, names in os.walk(package):
        # Sorting in place makes os.walk visit subpackages in a fixed order;
        # test suites inside packages are left out as noise.
        subdirectories[:] = sorted(d for d in subdirectories
                                   if d not in ("tests", "test", "__pycache__"))
        files += [os.path.join(directory, name) for name in sorted(names) if name.endswith(".py")]
    return files


def stdlib_corpus(max_chars: int | None = None, modules: Sequence[str] = DEFAULT_MODULES) -> str:
    """Concatenated source code of standard-library modules, in the order given.

    Parameters
    ----------
    max_chars : int, optional
        Keep only the first ``max_chars`` characters.
    modules : sequence of str, default DEFAULT_MODULES
        Module names (``"json"``, ``"email.mime"``); a package contributes all
        its ``.py`` files, sorted by path. Files are joined with one blank line.

    Returns
    -------
    str

    Raises
    ------
    CorpusNotFoundError
        When the standard library directory or a named module's source is
        missing (installs that ship only bytecode or a zipped stdlib).
    """
    if max_chars is not None and not max_chars >= 0:
        raise ArgumentError(f"stdlib_corpus: max_chars must be >= 0, got {max_chars}")
    if isinstance(modules, str):
        modules = [modules]
    root = stdlib_dir()
    if not os.path.isdir(root):
        raise CorpusNotFoundError(f"stdlib_corpus: the standard library directory {root!r} "
                                  "does not exist in this Python install")
    pieces = []
    length = 0
    for module in modules:
        files = _module_files(root, module)
        if not files:
            raise CorpusNotFoundError(f"stdlib_corpus: no source for module {module!r} under "
                                      f"{root!r} (a .py file or a package directory)")
        for path in files:
            with open(path, encoding="utf-8") as source:
                pieces.append(source.read())
            length += len(pieces[-1]) + 1
            if max_chars is not None and length >= max_chars:
                return "\n".join(pieces)[:max_chars]
    text = "\n".join(pieces)
    return text if max_chars is None else text[:max_chars]
