"""Every ```python block in README.md and docs/*.md runs, so the docs cannot drift from the code.

Each doc runs in a fresh interpreter (tests/docs_blocks.py) in a temporary
working directory: a seed, a default dtype or a file one doc leaves behind
cannot help or break another, and the files the blocks write go away.
DeprecationWarning and FutureWarning are errors there, as in the test suite;
other warnings are left as they are, because some blocks show one on purpose
(``strict=False`` naming the tensors it skipped).
"""

import os
import subprocess
import sys

import pytest
from docs_blocks import ROOT, documents, python_blocks

DOCS_WITH_CODE = [path for path in documents() if python_blocks(path)]
KERAS_NUMPY_DEPRECATION = "__array__ implementation doesn't accept a copy keyword"


def run_doc(path, cwd):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    # Keras on PyTorch (writing the file io.md loads) still trips one NumPy 2
    # deprecation in its own code: Keras's to fix, not a drift of these docs.
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::FutureWarning",
         "-W", f"ignore:{KERAS_NUMPY_DEPRECATION}:DeprecationWarning",
         str(ROOT / "tests" / "docs_blocks.py"), str(path)],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("path", DOCS_WITH_CODE, ids=lambda path: str(path.relative_to(ROOT)))
def test_doc_blocks_run(path, tmp_path):
    result = run_doc(path, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]


def test_every_doc_with_python_is_covered():
    """The README and the guides that hold code are all found (a renamed folder would not be)."""
    names = {str(path.relative_to(ROOT)) for path in DOCS_WITH_CODE}
    assert {"README.md", "docs/index.md", "docs/training.md", "docs/io.md"} <= names


def test_skipped_blocks_are_few_and_give_reasons():
    skipped = [block for path in documents() for block in python_blocks(path)
               if block.directive == "skip"]
    assert len(skipped) <= 3, [block.where for block in skipped]
    assert all(len(block.reason.split()) >= 3 for block in skipped)


def write_doc(tmp_path, text):
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_block_starts_a_fresh_namespace_unless_it_continues(tmp_path):
    doc = write_doc(tmp_path, "```python\nvalue = 1\n```\n\n```python\nprint(value)\n```\n")
    result = run_doc(doc, tmp_path)
    assert result.returncode == 1
    assert "page.md:5 failed" in result.stderr and "NameError" in result.stderr

    doc = write_doc(tmp_path, "```python\nvalue = 1\n```\n\n<!-- docs-test: continue -->\n"
                              "```python\nassert value == 1\n```\n")
    assert run_doc(doc, tmp_path).returncode == 0


def test_a_failing_block_fails_the_doc_naming_its_line(tmp_path):
    doc = write_doc(tmp_path, "text\n\n```python\nimport numrnn\nnumrnn.no_such_name\n```\n")
    result = run_doc(doc, tmp_path)
    assert result.returncode == 1 and "page.md:3 failed" in result.stderr
    assert "AttributeError" in result.stderr


def test_skip_and_requires_leave_out_the_block_and_its_continuations(tmp_path):
    doc = write_doc(tmp_path, "".join([
        "<!-- docs-test: skip needs a cluster somewhere -->\n",
        "```python\nraise SystemExit(3)\n```\n",
        "<!-- docs-test: continue -->\n```python\nraise SystemExit(4)\n```\n",
        "<!-- docs-test: requires no_such_module_here -->\n",
        "```python\nraise SystemExit(5)\n```\n",
        "```python\nprint('ran')\n```\n",
    ]))
    result = run_doc(doc, tmp_path)
    assert result.returncode == 0 and result.stdout.count("not run") == 2
    assert result.stdout.rstrip().endswith("ran")


@pytest.mark.parametrize("text, message", [
    ("<!-- docs-test: skip -->\n```python\npass\n```\n", "needs an argument"),
    ("<!-- docs-test: continue -->\n```python\npass\n```\n", "no block before"),
    ("<!-- docs-test: continue -->\nprose\n```python\npass\n```\n", "not followed by a fence"),
    ("<!-- docs-test: continue -->\n```\npip install .\n```\n", "non-python fence"),
    ("```python\npass\n", "never closed"),
    ("- an item:\n\n  ```python\n  pass\n  ```\n", "must start its line"),
])
def test_malformed_markers_are_refused(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        python_blocks(write_doc(tmp_path, text))
