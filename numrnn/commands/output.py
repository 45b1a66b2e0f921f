"""Output files the commands write: checked before any work, replaced whole at the end."""

import contextlib
import os
import tempfile
import uuid


def check_writable(path, what="output"):
    """Raise ``OSError`` naming ``path`` unless a file can be created there now.

    The check creates and removes a scratch file in the target directory:
    ``os.access`` answers yes to root everywhere and says nothing about a full
    or read-only file system, while an actual create fails as the final write
    would.
    """
    target = os.fspath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot write the {what} {target!r}: it is a directory")
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, scratch = tempfile.mkstemp(prefix=".numrnn-check-", dir=directory)
    except OSError as exc:
        raise type(exc)(f"cannot write the {what} {target!r}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(scratch)


@contextlib.contextmanager
def replaced_whole(path, mode="wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path``, else it goes.

    A reader of ``path`` sees the old file or the complete new one, never a
    partial write, and a failed command leaves nothing behind.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    temp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    # Mode 0o666 lets the umask decide, as for a plain open(); mkstemp would force 0o600.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as file:
            yield file
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
