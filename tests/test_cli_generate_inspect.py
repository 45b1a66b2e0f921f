"""`numrnn generate` samples a saved language model; `numrnn inspect` describes a weight file."""

import json
import struct

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.data import CharVocab
from numrnn.generate import generate_text
from tests.cli_process import assert_one_line_refusal, run_numrnn


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    vocab = CharVocab.build("def f(x):\n    return x + 1\n")
    model = numrnn.CharLanguageModel(vocab=vocab, embedding_dim=4, hidden_size=8, rng=0)
    path = tmp_path_factory.mktemp("models") / "lm.safetensors"
    numrnn.save(model, path)
    return path, model


def test_generate_prints_the_prompt_and_the_seeded_sample(language_model):
    path, model = language_model
    done = run_numrnn("generate", path, "--prompt", "def ", "--length", "40", "--seed", "3",
                      "--temperature", "0.9", "--top-k", "4")
    assert done.returncode == 0, done.stderr
    want = "def " + generate_text(model, "def ", 40, temperature=0.9, top_k=4, rng=3)
    assert done.stdout == want + "\n"


def test_generate_writes_the_text_to_output(tmp_path, language_model):
    path, model = language_model
    done = run_numrnn("generate", path, "--prompt", "x", "--length", "12", "--seed", "0",
                      "--top-p", "0.5", "-o", tmp_path / "sample.txt")
    assert done.returncode == 0, done.stderr
    want = "x" + generate_text(model, "x", 12, top_p=0.5, rng=0)
    assert (tmp_path / "sample.txt").read_text() == want


def test_generate_refuses_a_model_without_a_vocabulary(tmp_path):
    numrnn.save(nn.LSTM(2, 3, rng=0), tmp_path / "lstm.safetensors")
    line = assert_one_line_refusal(
        run_numrnn("generate", tmp_path / "lstm.safetensors", "--prompt", "a"), "generate")
    assert "holds a model of class LSTM without a vocabulary" in line


def test_generate_refuses_an_empty_prompt_and_an_unwritable_output(tmp_path, language_model):
    path, _ = language_model
    line = assert_one_line_refusal(run_numrnn("generate", path, "--prompt", ""), "generate")
    assert "--prompt must hold at least one character" in line
    line = assert_one_line_refusal(
        run_numrnn("generate", path, "--prompt", "a", "-o", tmp_path / "no" / "out.txt"),
        "generate")
    assert f"cannot write the --output '{tmp_path / 'no' / 'out.txt'}'" in line


def test_inspect_shows_the_config_and_every_tensor(language_model):
    path, model = language_model
    done = run_numrnn("inspect", path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "holds: a model: numrnn.load_model rebuilds it" in out
    assert "model: CharLanguageModel" in out and "hidden_size: 8" in out
    assert f"vocab: char vocabulary of {len(model.vocab)} symbols" in out
    for name, array in model.state_dict().items():
        shape = "(" + ", ".join(map(str, array.shape)) + ("," if array.ndim == 1 else "") + ")"
        assert f"{name}" in out and shape in out


def test_inspect_json_describes_a_pytorch_style_file_without_loading_it(tmp_path):
    from safetensors.numpy import save_file

    save_file({"weight": np.ones((2, 3), np.float32),
               "num_batches_tracked": np.zeros((), np.int64)},
              str(tmp_path / "torch.safetensors"), metadata={"note": "from torch"})
    done = run_numrnn("inspect", "--json", tmp_path / "torch.safetensors")
    assert done.returncode == 0, done.stderr
    description = json.loads(done.stdout)
    assert description["kind"] == "weights" and description["model"] is None
    assert description["metadata"] == {"note": "from torch"}
    assert description["tensors"] == [
        {"name": "num_batches_tracked", "dtype": "int64", "shape": [], "bytes": 8},
        {"name": "weight", "dtype": "float32", "shape": [2, 3], "bytes": 24}]


def test_inspect_names_a_saved_optimizer_state(tmp_path):
    numrnn.save({"step": 3, "moments": [np.zeros(2, np.float32)]}, tmp_path / "state.safetensors")
    done = run_numrnn("inspect", tmp_path / "state.safetensors")
    assert done.returncode == 0, done.stderr
    assert "holds: a saved state" in done.stdout


def test_inspect_escapes_control_characters_from_the_file(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w\x1b[2J": np.ones(2, np.float32)}, str(tmp_path / "hostile.safetensors"),
              metadata={"note\x07": "\x1b]0;owned\x07"})
    done = run_numrnn("inspect", tmp_path / "hostile.safetensors")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\\x1b[2J" in done.stdout


def test_inspect_refuses_a_file_that_is_not_safetensors_in_one_line(tmp_path):
    header = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
    (tmp_path / "short.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0")
    line = assert_one_line_refusal(run_numrnn("inspect", tmp_path / "short.safetensors"),
                                   "inspect")
    assert "the file is truncated" in line
