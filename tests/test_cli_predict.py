"""``numrnn predict MODEL INPUT``: every format in and out, checked against the model in-process."""

import json

import numpy as np
import pytest

import numrnn
from numrnn import nn
from numrnn.data import CharVocab
from tests.cli_process import assert_one_line_refusal, run_numrnn

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def lstm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "lstm.safetensors"
    numrnn.save(nn.LSTM(3, 4, rng=0), path)
    return path


def expected(path, sequence):
    """The model's own output for one (T, I) sequence, run in this process."""
    model = numrnn.load_model(path).eval()
    batch = sequence.astype(np.float32)[:, None, :]
    with numrnn.no_grad():
        output, _ = model(batch)
    return output.data[:, 0]


def assert_matches(got, want):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float32), want, rtol=1e-6, atol=1e-7)


def test_one_npy_sequence_gives_one_json_line_on_stdout(tmp_path, lstm_file):
    sequence = RNG.standard_normal((5, 3)).astype(np.float32)
    np.save(tmp_path / "one.npy", sequence)
    done = run_numrnn("predict", lstm_file, tmp_path / "one.npy")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert_matches(json.loads(lines[0]), expected(lstm_file, sequence))


def test_a_npy_batch_gives_a_npy_batch(tmp_path, lstm_file):
    batch = RNG.standard_normal((3, 6, 3))
    np.save(tmp_path / "batch.npy", batch)
    done = run_numrnn("predict", lstm_file, tmp_path / "batch.npy", "--output",
                      tmp_path / "out.npy", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    out = np.load(tmp_path / "out.npy")
    assert out.shape == (3, 6, 4) and out.dtype == np.float32
    for row, sequence in zip(out, batch):
        assert_matches(row, expected(lstm_file, sequence))


def test_npz_arrays_of_different_lengths_keep_their_names(tmp_path, lstm_file):
    arrays = {"short": RNG.standard_normal((2, 3, 3)), "long": RNG.standard_normal((9, 3))}
    np.savez(tmp_path / "in.npz", **arrays)
    done = run_numrnn("predict", lstm_file, tmp_path / "in.npz", "-o", tmp_path / "out.npz")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["long", "short"]
        assert out["short"].shape == (2, 3, 4) and out["long"].shape == (9, 4)
        assert_matches(out["long"], expected(lstm_file, arrays["long"]))
        assert_matches(out["short"][1], expected(lstm_file, arrays["short"][1]))


def test_json_lines_of_different_lengths_come_back_in_order(tmp_path, lstm_file):
    sequences = [RNG.standard_normal((length, 3)) for length in (4, 1, 4, 7)]
    text = "".join(json.dumps(sequence.tolist()) + "\n" for sequence in sequences)
    (tmp_path / "in.jsonl").write_text(text + "\n")  # a blank line is skipped
    done = run_numrnn("predict", lstm_file, tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == len(sequences)
    for line, sequence in zip(lines, sequences):
        assert_matches(json.loads(line), expected(lstm_file, sequence))


def test_json_lines_from_stdin(lstm_file):
    sequence = RNG.standard_normal((3, 3))
    done = run_numrnn("predict", lstm_file, "-", stdin=json.dumps(sequence.tolist()) + "\n")
    assert done.returncode == 0, done.stderr
    assert_matches(json.loads(done.stdout), expected(lstm_file, sequence))


def test_a_batch_first_model_gets_batch_first_input(tmp_path):
    model = nn.GRU(3, 2, batch_first=True, rng=1)
    numrnn.save(model, tmp_path / "gru.safetensors")
    batch = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    np.save(tmp_path / "batch.npy", batch)
    done = run_numrnn("predict", tmp_path / "gru.safetensors", tmp_path / "batch.npy",
                      "-o", tmp_path / "out.npy")
    assert done.returncode == 0, done.stderr
    with numrnn.no_grad():
        want, _ = model.eval()(batch)
    assert_matches(np.load(tmp_path / "out.npy"), want.data)


def test_integer_token_ids_feed_a_language_model(tmp_path):
    vocab = CharVocab.build("abcdef")
    model = numrnn.CharLanguageModel(vocab=vocab, embedding_dim=4, hidden_size=8, rng=0)
    numrnn.save(model, tmp_path / "lm.safetensors")
    tokens = np.array([[1, 2, 3, 4], [4, 3, 2, 1]])
    np.save(tmp_path / "tokens.npy", tokens)
    done = run_numrnn("predict", tmp_path / "lm.safetensors", tmp_path / "tokens.npy",
                      "-o", tmp_path / "logits.npy")
    assert done.returncode == 0, done.stderr
    with numrnn.no_grad():
        logits, _ = model.eval()(tokens.T)
    assert_matches(np.load(tmp_path / "logits.npy"), np.swapaxes(logits.data, 0, 1))


def test_an_unwritable_output_is_refused_before_the_model_is_read(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    np.save(tmp_path / "one.npy", np.zeros((2, 3)))
    # Neither the model nor the directory exists: the output is checked first.
    line = assert_one_line_refusal(
        run_numrnn("predict", tmp_path / "no-model.safetensors", tmp_path / "one.npy",
                   "-o", blocker / "out.npy"), "predict")
    assert f"cannot write the --output '{blocker / 'out.npy'}'" in line


def test_an_unknown_output_extension_is_refused(tmp_path, lstm_file):
    line = assert_one_line_refusal(
        run_numrnn("predict", lstm_file, tmp_path / "in.npy", "-o", tmp_path / "out.csv"),
        "predict")
    assert "--output must name a .npy, .npz, .jsonl or .ndjson file" in line


def test_different_lengths_into_one_npy_are_refused_before_the_model_is_read(tmp_path):
    (tmp_path / "in.jsonl").write_text("[[1, 2, 3]]\n[[1, 2, 3], [4, 5, 6]]\n")
    line = assert_one_line_refusal(
        run_numrnn("predict", tmp_path / "no-model.safetensors", tmp_path / "in.jsonl",
                   "-o", tmp_path / "out.npy"), "predict")
    assert "input's have lengths [1, 2]; write .npz or .jsonl instead" in line
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("line, message", [
    ("[[1, 2, 3], [4, 5]]", "line 1: rows of different lengths"),
    ("[1.5, 2.5]", "line 1: expected a list of token ids (ints) or a list of T lists"),
    ('{"x": 1}', "line 1: expected a list of token ids"),
    ("[[1, 2, NaN]]", "line 1 is not valid JSON"),
    ("[[" * 100 + "]]" * 100, "line 1 nests 200 levels deep"),
    ("[]", "line 1: expected a list of token ids"),
])
def test_a_malformed_json_line_is_named(tmp_path, lstm_file, line, message):
    (tmp_path / "in.jsonl").write_text(line + "\n")
    refusal = assert_one_line_refusal(run_numrnn("predict", lstm_file, tmp_path / "in.jsonl"),
                                      "predict")
    assert message in refusal


@pytest.mark.parametrize("array, message", [
    (np.array([[1.0, np.nan, 0.0]]), "holds NaN or infinite values"),
    (np.zeros((2, 3), dtype=bool), "has dtype bool; expected integer token ids or float"),
    (np.zeros((1, 1, 2, 3)), "float64 arrays hold features (T, I) or a batch (B, T, I)"),
    (np.zeros((0, 3)), "needs at least one sequence of at least one step"),
    (np.array(["a", "b"]), "has dtype <U1"),
])
def test_a_npy_that_holds_no_sequence_is_named(tmp_path, lstm_file, array, message):
    np.save(tmp_path / "in.npy", array)
    refusal = assert_one_line_refusal(run_numrnn("predict", lstm_file, tmp_path / "in.npy"),
                                      "predict")
    assert message in refusal


def test_a_pickled_npy_is_refused_without_unpickling(tmp_path, lstm_file):
    np.save(tmp_path / "in.npy", np.array([object()], dtype=object), allow_pickle=True)
    refusal = assert_one_line_refusal(run_numrnn("predict", lstm_file, tmp_path / "in.npy"),
                                      "predict")
    assert "not a .npy file of numeric arrays" in refusal


def test_a_model_refusal_leaves_no_output_behind(tmp_path, lstm_file):
    np.save(tmp_path / "in.npy", np.zeros((4, 2), dtype=np.float32))  # the LSTM reads 3
    refusal = assert_one_line_refusal(
        run_numrnn("predict", lstm_file, tmp_path / "in.npy", "-o", tmp_path / "out.npy"),
        "predict")
    assert "input feature size must be 3" in refusal
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.npy"]


def test_a_weights_only_file_is_refused_in_one_line(tmp_path):
    numrnn.save(nn.LSTM(3, 4, rng=0).state_dict(), tmp_path / "weights.safetensors")
    np.save(tmp_path / "in.npy", np.zeros((2, 3)))
    refusal = assert_one_line_refusal(
        run_numrnn("predict", tmp_path / "weights.safetensors", tmp_path / "in.npy"), "predict")
    assert "holds weights only" in refusal
