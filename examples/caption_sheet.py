"""A PNG sheet of pictures with their captions, drawn with numpy and written with zlib.

numrnn depends on no imaging library, so the captioning example draws its
figure itself: every picture is enlarged, its caption is set below it in a
3x5-pixel font, and :func:`write_png` stores the pixels as an 8-bit RGB PNG
(one IHDR, one zlib-compressed IDAT of unfiltered rows, tEXt entries, IEND).
"""

import struct
import zlib

import numpy as np

# Each glyph is 5 rows of 3 pixels, read left to right and top to bottom.
GLYPHS = {
    "a": "010101111101101", "b": "110101110101110", "c": "011100100100011",
    "d": "110101101101110", "e": "111100110100111", "f": "111100110100100",
    "g": "011100101101011", "h": "101101111101101", "i": "111010010010111",
    "j": "001001001101010", "k": "101101110101101", "l": "100100100100111",
    "m": "101111111101101", "n": "110101101101101", "o": "010101101101010",
    "p": "110101110100100", "q": "010101101110011", "r": "110101110101101",
    "s": "011100010001110", "t": "111010010010010", "u": "101101101101111",
    "v": "101101101101010", "w": "101101111111101", "x": "101101010101101",
    "y": "101101010010010", "z": "111001010100111", " ": "000000000000000",
}
FONT_SCALE = 2
ADVANCE = 4 * FONT_SCALE       # a glyph and one column of space
LINE_HEIGHT = 7 * FONT_SCALE
PICTURE_SCALE = 4
TILE_WIDTH, TEXT_LINES, COLUMNS = 168, 4, 4
BACKGROUND = (40, 40, 40)
RIGHT, WRONG = (255, 255, 255), (255, 150, 0)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def glyph(char):
    """The 5x3 boolean mask of ``char`` (letters and space)."""
    bits = GLYPHS.get(char)
    if bits is None:
        raise ValueError(f"caption_sheet: no glyph for {char!r}; the font has a-z and space")
    return np.array([bit == "1" for bit in bits]).reshape(5, 3)


def wrap(text, width):
    """``text`` broken at spaces into lines of at most ``width`` characters."""
    lines = [""]
    for word in text.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def draw_text(canvas, text, top, left, colour):
    """Set ``text`` on ``canvas`` (H, W, 3) uint8 with its first glyph's corner at (top, left)."""
    for index, char in enumerate(text):
        mask = np.kron(glyph(char), np.ones((FONT_SCALE, FONT_SCALE), dtype=bool))
        x = left + index * ADVANCE
        canvas[top:top + mask.shape[0], x:x + mask.shape[1]][mask] = colour


def caption_sheet(images, captions, truths):
    """An (H, W, 3) uint8 sheet: each picture (3, h, w) in [0, 1], its caption below it,
    white where it equals the truth and orange where not, ``COLUMNS`` pictures a row."""
    picture_height = images.shape[2] * PICTURE_SCALE
    tile_height = picture_height + 6 + TEXT_LINES * LINE_HEIGHT
    rows = -(-len(images) // COLUMNS)
    canvas = np.empty((rows * tile_height, COLUMNS * TILE_WIDTH, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    per_line = (TILE_WIDTH - 8) // ADVANCE
    for index, (image, text, truth) in enumerate(zip(images, captions, truths)):
        top, left = index // COLUMNS * tile_height, index % COLUMNS * TILE_WIDTH + 4
        pixels = np.clip(image.transpose(1, 2, 0) * 255, 0, 255).astype(np.uint8)
        pixels = pixels.repeat(PICTURE_SCALE, axis=0).repeat(PICTURE_SCALE, axis=1)
        canvas[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
        colour = RIGHT if text == truth else WRONG
        for line, words in enumerate(wrap(text, per_line)[:TEXT_LINES]):
            draw_text(canvas, words, top + picture_height + 4 + line * LINE_HEIGHT, left, colour)
    return canvas


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path, pixels, text=None):
    """Write ``pixels`` (H, W, 3) uint8 to ``path`` as a PNG, with ``text`` ({keyword:
    Latin-1 string}) as tEXt chunks."""
    height, width, _ = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)   # 8-bit RGB, no interlace
    # Filter type 0 (none) before every row: simple, and zlib does well enough on flat areas.
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8),
                           np.ascontiguousarray(pixels, dtype=np.uint8).reshape(height, -1)],
                          axis=1)
    chunks = [_chunk(b"IHDR", header)]
    for keyword, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + value.encode("latin-1")))
    chunks += [_chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)), _chunk(b"IEND", b"")]
    with open(path, "wb") as file:
        file.write(PNG_SIGNATURE + b"".join(chunks))
