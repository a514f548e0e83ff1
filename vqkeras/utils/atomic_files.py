"""Atomic replacement of files and directories: a kill at any moment leaves the old or the new version in place.

A file is written under a temporary name in the target's directory, flushed to disk, then renamed over the target with
`os.replace`, which POSIX makes atomic within one file system. A directory is written beside the target, then
exchanged with it in one `renameat2(RENAME_EXCHANGE)` call (Linux); where that call is missing, the old directory is
renamed aside, the new one renamed in, and the old one deleted, which leaves a moment between the two renames when
the path is empty.
"""

import contextlib
import ctypes
import errno
import os
import shutil
import uuid

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _temporary_prefix(target):
    directory, name = os.path.split(os.path.abspath(target))
    return directory, f".{name}.tmp-"


def _temporary_sibling(target, suffix=""):
    """A hidden, unused name in `target`'s directory: `.<name>.tmp-<writer's pid>-<random><suffix>`."""
    directory, prefix = _temporary_prefix(target)
    return os.path.join(directory, f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}")


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(target):
    """Removes the temporaries of `target` that writers killed mid-save left beside it, and returns their paths.

    A temporary is `.<name>.tmp-<pid>-<random>…` (`_temporary_sibling`); it is stale when process `pid` no longer
    runs on this machine. Temporaries of running writers (a concurrent save, this process) are kept.
    """
    directory, prefix = _temporary_prefix(target)
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    stale = []
    for entry in entries:
        pid = entry[len(prefix):].split("-", 1)[0] if entry.startswith(prefix) else ""
        if pid.isdigit() and int(pid) > 0 and not _running(int(pid)):
            stale.append(os.path.join(directory, entry))
            _remove(stale[-1])
    return stale


def _fsync(path):
    """Flushes a file, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path):
    for root, _, files in os.walk(path):
        for name in files:
            _fsync(os.path.join(root, name))
        _fsync(root)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_file(target, suffix=""):
    """Yields a temporary path beside `target`; once the block returns, the file there replaces `target` atomically.

    The temporary name ends in `suffix` (e.g. `".keras"` for writers that check the extension). If the block raises,
    the temporary file is removed and `target` is untouched. Temporaries that killed writers left beside `target` are
    removed first (`remove_stale_temporaries`).

    Example:

    >>> with atomic_file("model.keras", suffix=".keras") as path:
    ...     keras_model.save(path)
    """
    remove_stale_temporaries(target)
    temporary = _temporary_sibling(target, suffix)
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    _fsync(os.path.dirname(os.path.abspath(target)))


def _exchange(a, b):
    """Swaps two paths in one atomic step (Linux `renameat2`); False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # a file system or kernel without RENAME_EXCHANGE
        return False
    raise OSError(error, os.strerror(error), a)


def replace_directory(source, target):
    """Puts the directory `source` at `target`, replacing what is there, and deletes the old version.

    Both must be on one file system (make `source` a sibling of `target`). With `RENAME_EXCHANGE` the path always
    holds the old or the new directory; otherwise the old one is renamed aside, then `source` renamed in.
    """
    if not os.path.lexists(target):
        os.rename(source, target)
    elif _exchange(source, target):
        _remove(source)  # now the old version
    else:
        aside = _temporary_sibling(target, ".old")
        os.rename(target, aside)
        os.rename(source, target)
        _remove(aside)
    _fsync(os.path.dirname(os.path.abspath(target)))


@contextlib.contextmanager
def atomic_directory(target):
    """Yields a path beside `target` to write a directory into; once the block returns, it replaces `target`.

    The yielded path does not exist yet: the writer creates it. If the block raises, it is removed and `target` is
    untouched. Stale temporaries of `target` are removed first, as in `atomic_file`.
    """
    remove_stale_temporaries(target)
    temporary = _temporary_sibling(target)
    try:
        yield temporary
        _fsync_tree(temporary)
        replace_directory(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
