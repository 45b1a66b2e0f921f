"""Output files the commands write: checked before any work, replaced whole at the end."""

import contextlib
import os
import tempfile


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
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                dir=directory)
    try:
        with os.fdopen(fd, mode) as file:
            yield file
        # mkstemp creates the file readable by its owner only; a plain open() lets the
        # umask decide, which is what a user expects of an output file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
