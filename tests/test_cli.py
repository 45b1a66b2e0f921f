"""The numrnn command as a script sees it: --version, plain-text help, one-line refusals."""

import re

import pytest

import numrnn
from numrnn.cli import main
from tests.cli_process import assert_one_line_refusal, run_numrnn

COMMANDS = ("demo", "predict", "generate", "inspect", "info", "warmup")
# reST roles, inline literals and literal-block markers, as docstrings write them.
RST_MARKUP = re.compile(r":(func|class|meth|mod|data|attr):|``|::")


def test_version_prints_the_package_version():
    done = run_numrnn("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"numrnn {numrnn.__version__}\n"


def test_top_level_help_is_plain_text_and_lists_every_command():
    done = run_numrnn("--help")
    assert done.returncode == 0, done.stderr
    assert not RST_MARKUP.search(done.stdout), done.stdout
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), command
    assert "exit status" in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_is_plain_text(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: numrnn {command}")
    assert not RST_MARKUP.search(out), out


@pytest.mark.parametrize("arguments, flag", [
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--lr", "-1"], "--lr"),
    (["demo", "--temperature", "nan"], "--temperature"),
    (["demo", "--top-k", "0"], "--top-k"),
    (["demo", "--sample-chars", "many"], "--sample-chars"),
    (["generate", "m.safetensors", "--prompt", "x", "--top-p", "1.5"], "--top-p"),
    (["predict", "m.safetensors", "x.npy", "--batch-size", "0"], "--batch-size"),
])
def test_a_refused_flag_value_is_one_line_and_exit_2(arguments, flag):
    line = assert_one_line_refusal(run_numrnn(*arguments), arguments[0])
    assert f"argument {flag}: must be" in line


def test_a_missing_argument_is_one_line_and_exit_2():
    line = assert_one_line_refusal(run_numrnn("predict"), "predict")
    assert "MODEL, INPUT" in line


def test_main_returns_the_status_instead_of_exiting(capsys):
    assert main(["--version"]) == 0
    assert main(["inspect"]) == 2
    assert capsys.readouterr().err.startswith("numrnn inspect: error: ")


def test_a_missing_input_file_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "absent.safetensors"
    line = assert_one_line_refusal(run_numrnn("inspect", missing), "inspect")
    assert str(missing) in line and "No such file" in line
