"""examples/image_captioning.py: its captions, its PNG sheet and its save/load round trip."""

import struct
import zlib

import numpy as np
import pytest
from repo_scripts import load_script

import numrnn

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def example():
    # Loaded once: the script registers ImageCaptioner for numrnn.load_model, and a
    # second, different class of the same name would be refused.
    return load_script("examples/image_captioning.py")


def read_png(path):
    """(width, height, rows (H, 1 + 3W) uint8, {tEXt keyword: text}), checking every CRC."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind}"
        chunks.append((kind, body))
        position += 12 + length
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + 3 * width)
    text = dict(body.decode("latin-1").split("\0", 1) for kind, body in chunks
                if kind == b"tEXt")
    return width, height, rows, text


def test_captions_name_shapes_in_reading_order(example):
    assert example.caption([(4, "blue", "circle")]) == ["a", "blue", "circle"]
    words = example.caption([(0, "red", "square"), (2, "green", "triangle"),
                             (7, "blue", "circle")])
    assert " ".join(words) == "a red square left of a green triangle above a blue circle"


def test_dataset_captions_match_their_pictures(example):
    images, tokens, lengths = example.make_dataset(64, 0.0, np.random.default_rng(1))
    assert images.shape == (64, 3, 24, 24) and tokens.shape == (example.MAX_WORDS + 1, 64)
    for image, row, length in zip(images, tokens.T, lengths):
        assert row[0] == example.BOS and row[length - 1] == example.EOS
        shapes = example.words_of(row[1:]).count(" a ") + 1
        # Without noise, each shape is one cell's block of pure colour over the background.
        coloured = (image.max(axis=0) > 0.5).reshape(3, 8, 3, 8).any(axis=(1, 3))
        assert coloured.sum() == shapes


def test_quick_run_writes_a_png_and_reloads_the_same_model(example, tmp_path, capsys):
    threads = numrnn.get_num_threads()
    result = example.main(["--quick", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert 0.0 <= result["greedy"] <= 1.0 and 0.0 <= result["beam"] <= 1.0
    assert "held-out exact-match captions: greedy" in out and "s CPU" in out
    assert result["reloaded_same"] and "the same captions" in out
    assert numrnn.get_num_threads() == threads, "main() puts the thread count back"

    width, height, rows, text = read_png(tmp_path / "captions.png")
    assert (width, height) == (672, 3 * (24 * 4 + 6 + 4 * 14))
    assert not rows[:, 0].any(), "every row uses filter 0"
    assert len(text["Description"].split("\n")) == 12

    # The encoder and the decoder come back together, with every weight equal.
    trained, reloaded = result["captioner"], numrnn.load_model(result["model"])
    assert type(reloaded) is example.ImageCaptioner
    assert reloaded.get_config() == trained.get_config()
    images, tokens, lengths = example.make_dataset(5, 0.05, np.random.default_rng(2))
    words_in = tokens[:int(lengths.max()) - 1]
    with numrnn.no_grad():
        np.testing.assert_array_equal(reloaded.eval()(images, words_in).data,
                                      trained.eval()(images, words_in).data)
