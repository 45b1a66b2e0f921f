"""The ```python blocks of README.md and docs/*.md, grouped into the runs the docs test makes.

A block starts a fresh namespace unless an HTML comment on the line before its
fence says otherwise (GitHub and MkDocs render neither comment):

- ``<!-- docs-test: continue -->``: the block goes on from the doc's previous
  block, in the same namespace (it uses names that block defined);
- ``<!-- docs-test: skip REASON -->``: the block is not run, for the reason given
  (it needs an MPI launch or a cluster);
- ``<!-- docs-test: requires MODULE -->``: the block runs only where MODULE
  imports (torch, which the test extra leaves out), and so do the blocks that
  continue it.

Run as a script with a Markdown path, this module executes that doc's blocks in
order in the current working directory and exits non-zero at the first block
that raises, naming its line; the test runs it in a subprocess per doc, so
nothing one doc does (a seed, a default dtype, a file) reaches another.
"""

import dataclasses
import importlib.util
import pathlib
import re
import sys
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\S*)\s*$")
INDENTED_PYTHON = re.compile(r"^\s+```python\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(continue|skip|requires)\b\s*(.*?)\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced ```python block: where it is, its code, and how the marker says to run it."""

    path: pathlib.Path
    line: int
    code: str
    directive: str | None
    reason: str

    @property
    def where(self):
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        return f"{shown}:{self.line}"


def documents():
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(path):
    """The ```python blocks of the Markdown file at ``path``, in order.

    Raises
    ------
    ValueError
        A marker that is not directly before a fence, a skip without a reason, a
        ``continue`` with no block before it, or a fence that is never closed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    pending = None
    index = 0
    while index < len(lines):
        text = lines[index]
        marker = MARKER.match(text.strip())
        if marker:
            pending = (index + 1, marker.group(1), marker.group(2))
            index += 1
            continue
        fence = FENCE.match(text)
        if fence is None:
            if INDENTED_PYTHON.match(text):
                # An indented block (inside a list item) would escape the test unseen.
                raise ValueError(f"{path}:{index + 1}: a ```python fence must start its line, "
                                 "not be indented, so that the docs test runs it")
            if pending and text.strip():
                raise ValueError(f"{path}:{pending[0]}: docs-test marker not followed by a fence")
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{index + 1}: fence never closed")
        directive, reason = (pending[1], pending[2]) if pending else (None, "")
        if fence.group(1) != "python":
            if pending:
                raise ValueError(f"{path}:{pending[0]}: docs-test marker before a non-python fence")
        else:
            if directive in ("skip", "requires") and not reason:
                raise ValueError(f"{path}:{index + 1}: docs-test {directive} needs an argument")
            if directive == "continue" and not blocks:
                raise ValueError(f"{path}:{index + 1}: docs-test continue with no block before")
            code = "\n".join(lines[index + 1:end]) + "\n"
            blocks.append(Block(path, index + 1, code, directive, reason))
        pending = None
        index = end + 1
    return blocks


def run_document(path):
    """Execute the doc's blocks in order; 0 if all ran, 1 after printing the failing block."""
    namespace = None
    skipping_chain = False
    for block in python_blocks(path):
        if block.directive == "continue" and skipping_chain:
            continue
        skipping_chain = block.directive == "skip" or (
            block.directive == "requires" and importlib.util.find_spec(block.reason) is None)
        if skipping_chain:
            print(f"docs block {block.where} not run: {block.directive} {block.reason}")
            continue
        if block.directive != "continue" or namespace is None:
            namespace = {"__name__": "__main__"}
        try:
            exec(compile(block.code, block.where, "exec"), namespace)
        except BaseException:
            print(f"docs block {block.where} failed:", file=sys.stderr)
            traceback.print_exc()
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_document(pathlib.Path(sys.argv[1]).resolve()))
