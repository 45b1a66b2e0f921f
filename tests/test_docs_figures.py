"""Every measured figure in README.md and docs/ names the command that produces it.

The rule (docs/design.md, "Figures in the docs"): a section of a page, the text
under one heading down to the next heading of any level, that quotes a figure
with a unit (a time in ns, µs, ms, s or min; GFLOP/s or GB/s; a ratio such as
``1.3x``; a percentage; MiB; bits/char) must name, in that section, a command
that produces it: an existing ``perf/*.py``, ``examples/*.py``, ``tests/*.py`` or
``.ci/`` script, or ``numrnn COMMAND`` for a real command. Two kinds of section
are exempt, each visibly:

- a heading that starts with "History", in a section that names (in backticks,
  heading or text) the commit its figures were measured on: figures no script produces any
  more, kept as a record;
- a ``<!-- docs-figures: not measured: REASON -->`` line in the section, for
  figures that are defaults, limits, sizes or arithmetic, not measurements.

Python blocks are left out (the docs test runs them); other fences (a script's
printed output) count as text of their section.
"""

import re

import pytest
from docs_blocks import FENCE, ROOT, documents

from numrnn.cli import build_parser

FIGURE = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?(?:\s?[–-]\s?\d+(?:\.\d+)?)?\s?"
    r"(?:ns|µs|us|ms|s|min|GFLOP/s|GB/s|MiB|%|x(?![\w\d])|bits/char)(?![\w/])")
HEADING = re.compile(r"^#{1,6}\s+(.*)$")
SCRIPT = re.compile(r"(?<![\w/.])((?:perf|examples|tests)/[\w/]+\.py|\.ci/[\w.-]+)")
NUMRNN_COMMAND = re.compile(r"(?<![\w/.-])numrnn (\w+)")
COMMIT = re.compile(r"`[0-9a-f]{7,40}`")
NOT_MEASURED = re.compile(r"^<!--\s*docs-figures:\s*not measured:?\s+(.*?)\s*-->\s*$", re.MULTILINE)


def cli_commands():
    """The names of the ``numrnn`` commands, read from the parser itself."""
    (subcommands,) = [action for action in build_parser()._actions if action.dest == "command"]
    return set(subcommands.choices)


def sections(path):
    """(heading, line, text) for each section of ``path``, the python blocks left out."""
    found = []
    heading, start, text = "(top of page)", 1, []
    in_fence, fence_is_python = False, False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            opening = not in_fence
            in_fence, fence_is_python = opening, opening and fence.group(1) == "python"
            continue
        if in_fence and fence_is_python:
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            found.append((heading, start, "\n".join(text)))
            heading, start, text = match.group(1), number, []
        else:
            text.append(line)
    found.append((heading, start, "\n".join(text)))
    return found


def named_producers(text, commands):
    """The producing scripts and commands ``text`` names that exist, and those that do not."""
    existing, missing = [], []
    for script in SCRIPT.findall(text):
        (existing if (ROOT / script).is_file() else missing).append(script)
    for command in NUMRNN_COMMAND.findall(text):
        if command in commands:
            existing.append(f"numrnn {command}")
    return existing, missing


def figure_problems(path, commands):
    """One line per section of ``path`` that breaks the rule, saying why."""
    problems = []
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for heading, line, text in sections(path):
        figures = FIGURE.findall(text)
        existing, missing = named_producers(text, commands)
        where = f"{shown}:{line} ({heading})"
        # A history section records code as it was at its commit, scripts since removed included.
        history = heading.startswith("History") and COMMIT.search(heading + "\n" + text)
        if missing and not history:
            problems.append(f"{where}: names scripts that do not exist: {missing}")
        exempt_reason = NOT_MEASURED.search(text)
        if exempt_reason and len(exempt_reason.group(1).split()) < 3:
            problems.append(f"{where}: a not-measured marker needs a reason of three words or more")
        if not figures or existing or exempt_reason or history:
            continue
        problems.append(f"{where}: quotes {figures[:4]} but names no script or numrnn command")
    return problems


def test_every_measured_figure_names_its_script():
    commands = cli_commands()
    problems = [problem for path in documents() for problem in figure_problems(path, commands)]
    assert not problems, "\n".join(problems)


def test_the_rule_sees_the_docs():
    """A renamed folder or a broken pattern would make the test above pass on nothing."""
    pages = {str(path.relative_to(ROOT)) for path in documents()}
    assert {"README.md", "docs/performance.md", "docs/examples.md"} <= pages
    performance = sections(ROOT / "docs" / "performance.md")
    figures = sum(len(FIGURE.findall(text)) for heading, line, text in performance)
    assert figures > 100


def write_page(tmp_path, text):
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("figure", ["3.2 ms", "41 µs", "0.36 s", "1.3x", "1.3–1.7x", "57%",
                                    "148 GFLOP/s", "151.2 MiB", "1.64 bits/char", "19 min"])
def test_a_figure_without_a_script_is_refused(tmp_path, figure):
    page = write_page(tmp_path, f"# Speed\n\nIt took {figure} on a quiet machine.\n")
    (problem,) = figure_problems(page, cli_commands())
    assert "page.md:1 (Speed)" in problem and "names no script" in problem


@pytest.mark.parametrize("named", ["`python perf/streaming.py`", "`python examples/forecasting.py`",
                                   "`numrnn warmup`", "`python -m pytest tests/test_warmup.py`"])
def test_a_section_naming_an_existing_script_passes(tmp_path, named):
    page = write_page(tmp_path, f"# Speed\n\n{named} at 09:00: 3.2 ms per step.\n")
    assert figure_problems(page, cli_commands()) == []


def test_the_script_must_exist_and_be_in_the_same_section(tmp_path):
    page = write_page(tmp_path, "# Speed\n\n`python perf/no_such_script.py`: 3.2 ms.\n")
    problems = figure_problems(page, cli_commands())
    assert any("do not exist" in problem for problem in problems)
    assert any("names no script" in problem for problem in problems)

    page = write_page(tmp_path, "# Speed\n\n`python perf/streaming.py`.\n\n## Detail\n\n3.2 ms.\n")
    (problem,) = figure_problems(page, cli_commands())
    assert "page.md:5 (Detail)" in problem
    assert figure_problems(write_page(tmp_path, "# Speed\n\n`numrnn nosuchcommand`: 3 s.\n"),
                           cli_commands())


def test_history_sections_need_their_commit_and_markers_need_a_reason(tmp_path):
    history = "## History: session 2\n\nOn `c59a663`, no longer reproducible: 3.2 ms.\n"
    assert figure_problems(write_page(tmp_path, history), cli_commands()) == []
    assert figure_problems(write_page(tmp_path, history.replace("`c59a663`", "that commit")),
                           cli_commands())

    marked = ("# Plan\n\n<!-- docs-figures: not measured: arithmetic from the sizes above -->\n"
              "215 ms.\n")
    assert figure_problems(write_page(tmp_path, marked), cli_commands()) == []
    terse = "# Plan\n\n<!-- docs-figures: not measured: sums -->\n215 ms.\n"
    (problem,) = figure_problems(write_page(tmp_path, terse), cli_commands())
    assert "reason" in problem


def test_python_blocks_are_left_out_and_output_fences_count(tmp_path):
    code = "# Code\n\n```python\nimport time\ntime.sleep(0)  # 3 ms\n```\n"
    assert figure_problems(write_page(tmp_path, code), cli_commands()) == []
    output = "# Output\n\n```\nstep 3.2 ms\n```\n"
    assert figure_problems(write_page(tmp_path, output), cli_commands())
