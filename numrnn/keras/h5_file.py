"""Reading a Keras 3 file that may be hostile: the zip, the HDF5 tree and its datasets.

A ``.keras`` file is a zip holding ``config.json`` and ``model.weights.h5``; a
``.weights.h5`` file is that HDF5 file alone. Both are data: the zip members are
read as bytes, the config is parsed as bounded JSON
(:func:`numrnn.io.untrusted_json.parse_untrusted`), and the HDF5 file is read
through h5py from memory, so it cannot name other files to open. Links other
than plain (hard) links, datasets kept in external files or assembled from
other files (virtual), and datasets behind filters (compression, or a filter
plugin HDF5 would load) are refused before they are read; a dataset's declared
size is checked against the file's before a byte of it is read. Every error the
zip, h5py or HDF5 raise on a malformed file comes out as a :class:`FormatError`
naming the file.
"""

import contextlib
import importlib
import io
import os
import zipfile

import numpy as np

from numrnn.errors import ArgumentTypeError, FormatError, MissingExtraError, NumrnnError
from numrnn.io.untrusted_json import parse_untrusted

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
WEIGHTS_MEMBER = "model.weights.h5"
CONFIG_MEMBER = "config.json"
# Deflate expands at most about 1032 times; a member declaring more is not honest.
MAX_DEFLATE_RATIO = 1100
MAX_CONFIG_BYTES = 64 << 20
# Keras nests a layer's weights three groups deep per model level; a tree this
# deep or this large is not a model's.
MAX_GROUP_DEPTH = 32
MAX_GROUPS = 100_000


def require_h5py():
    """The ``h5py`` module, or a :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module("h5py")
    except ImportError as error:
        raise MissingExtraError("numrnn.keras needs the 'h5py' package: pip install "
                                "'numrnn[keras]' (or pip install h5py)") from error


@contextlib.contextmanager
def opened(path):
    """``(root_group, config_or_None, where, weights_bytes)`` of the Keras file at ``path``.

    Inside the block, any exception h5py or HDF5 raise becomes a :class:`FormatError`
    naming the file; numrnn's own errors pass through unchanged.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"numrnn.keras: path must be a str or os.PathLike, got "
                                f"{type(path).__name__}")
    h5py = require_h5py()
    where = os.fspath(path)
    with open(where, "rb") as file:
        data = file.read()
    config = None
    if data.startswith(ZIP_MAGIC):
        weights, config_text = _zip_members(data, where)
        if config_text is not None:
            config = parse_untrusted(config_text, where, f"'{CONFIG_MEMBER}'")
    elif data.startswith(HDF5_MAGIC):
        weights = data
    else:
        raise FormatError(f"{where}: not a Keras file: a .keras file is a zip (starts with "
                          f"{ZIP_MAGIC!r}), a .weights.h5 file HDF5 (starts with "
                          f"{HDF5_MAGIC!r}); this one starts with {data[:8]!r}")
    try:
        with h5py.File(io.BytesIO(weights), "r") as root:
            yield root, config, where, len(weights)
    except NumrnnError:
        raise
    except Exception as error:  # h5py raises OSError, KeyError, ValueError, RuntimeError...
        raise FormatError(f"{where}: the HDF5 weights could not be read "
                          f"({type(error).__name__}: {str(error)[:200]})") from None


def _zip_members(data, where):
    """The bytes of ``model.weights.h5`` and the text of ``config.json`` (or None)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {info.filename: info for info in archive.infolist()}
        if WEIGHTS_MEMBER not in members:
            raise FormatError(f"{where}: a .keras zip must hold '{WEIGHTS_MEMBER}'; it holds "
                              f"{sorted(members)[:8]}")
        contents = {}
        for name, limit in ((WEIGHTS_MEMBER, None), (CONFIG_MEMBER, MAX_CONFIG_BYTES)):
            info = members.get(name)
            if info is None:
                continue
            most = MAX_DEFLATE_RATIO * max(info.compress_size, 1)
            if info.compress_type == zipfile.ZIP_STORED:
                most = info.compress_size
            if info.file_size > most or info.compress_size > len(data) \
                    or (limit is not None and info.file_size > limit):
                raise FormatError(f"{where}: zip member '{name}' declares {info.file_size} "
                                  f"bytes from {info.compress_size} stored in a file of "
                                  f"{len(data)} bytes")
            contents[name] = archive.read(info)
    except NumrnnError:
        raise
    except Exception as error:  # zipfile and zlib raise BadZipFile, zlib.error, EOFError...
        raise FormatError(f"{where}: not a readable .keras zip ({type(error).__name__}: "
                          f"{str(error)[:200]})") from None
    text = contents.get(CONFIG_MEMBER)
    if text is not None:
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FormatError(f"{where}: '{CONFIG_MEMBER}' is not UTF-8 ({error})") from None
    return contents[WEIGHTS_MEMBER], text


def child(group, name, where):
    """Member ``name`` of ``group``, or None where it has none.

    Refused: a member that is anything but a hard link, or that HDF5 lists but
    cannot open (h5py's ``in`` and ``get`` would call it absent, and a corrupted
    layer would be passed over in silence).
    """
    h5py = require_h5py()
    # The names iterated, not ``in``: h5py's membership test opens the member.
    if name not in list(group):
        return None
    link = group.get(name, getlink=True)
    if link is None:
        raise FormatError(f"{where}: '{group.name[:200]}/{name[:80]}' is listed but cannot be "
                          "opened: the file is corrupted")
    if not isinstance(link, h5py.HardLink):
        raise FormatError(f"{where}: '{group.name[:200]}/{name[:80]}' is a "
                          f"{type(link).__name__}; numrnn reads only plain members, never "
                          "links to other paths or files")
    return group[name]


def groups_below(root, where):
    """Every group under ``root`` (depth first, ``root`` included), as ``(path, group)``."""
    h5py = require_h5py()
    pending, seen = [("", root, 0)], 0
    while pending:
        path, group, depth = pending.pop()
        seen += 1
        if depth > MAX_GROUP_DEPTH or seen > MAX_GROUPS:
            raise FormatError(f"{where}: the HDF5 tree is deeper than {MAX_GROUP_DEPTH} or "
                              f"holds more than {MAX_GROUPS} groups: not a Keras model")
        yield path, group
        for name in sorted(group.keys(), reverse=True):
            member = child(group, name, where)
            if isinstance(member, h5py.Group):
                pending.append((f"{path}/{name}" if path else name, member, depth + 1))


def checked_dataset(group, name, where, file_bytes):
    """Dataset ``name`` of ``group``, its declared type, size and storage checked, unread.

    Refused: a member that is not a dataset; a dtype other than float32 or
    float64; more than 2 dimensions; a declared size past the file's; filters,
    external or virtual storage.
    """
    h5py = require_h5py()
    label = f"dataset '{group.name[:200]}/{name[:80]}'"
    dataset = child(group, name, where)
    if not isinstance(dataset, h5py.Dataset):
        raise FormatError(f"{where}: {label} is missing or not a dataset")
    dtype = dataset.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise FormatError(f"{where}: {label} holds {dtype}; numrnn reads float32 and float64")
    shape = dataset.shape
    if shape is None or len(shape) > 2:
        raise FormatError(f"{where}: {label} has shape {shape}; a recurrent weight has 1 or 2 "
                          "dimensions")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > file_bytes:
        raise FormatError(f"{where}: {label} declares shape {shape} ({nbytes} bytes), more "
                          f"than the file's {file_bytes} bytes")
    if dataset.is_virtual or dataset.external \
            or dataset.id.get_create_plist().get_nfilters() != 0:
        raise FormatError(f"{where}: {label} is compressed, filtered, virtual or kept in "
                          "another file; numrnn reads datasets stored plainly in the file")
    return dataset


def dataset_array(dataset, where):
    """The values of a dataset :func:`checked_dataset` passed, refused unless finite."""
    array = np.asarray(dataset[()], dtype=dataset.dtype.newbyteorder("="))
    if array.shape != dataset.shape:
        raise FormatError(f"{where}: dataset '{dataset.name[:200]}' declares shape "
                          f"{dataset.shape} but reads as {array.shape}")
    if not np.isfinite(array).all():
        raise FormatError(f"{where}: dataset '{dataset.name[:200]}' holds NaN or infinite "
                          "values")
    return array
