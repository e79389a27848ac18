"""One writer per output folder: a second run on the same folder stops in one line instead of racing the first.

The lock is an ``flock`` on a file named by the folder's absolute path in the system's temporary folder (not in
or beside the folder: ``--overwrite`` may delete the folder, and a run that stops early must leave the user's
folders as they were); the kernel drops it when its process dies, so a stale lock of a killed run is taken over.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import SpcError

try:
    import fcntl
except ImportError:  # not POSIX: no locking (spc's targets are Linux)
    fcntl = None


def lock_path(folder: str | Path) -> Path:
    """Where the lock of ``folder`` lives: one file per absolute path, under the temporary folder."""
    key = hashlib.sha256(str(Path(folder).absolute()).encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / "spc-locks" / f"{key}.lock"


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold the lock of ``folder`` for the block; a user error naming the holder's process where it is taken."""
    if fcntl is None:
        yield
        return
    path = lock_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SpcError(f"cannot take the lock of {folder} ({path.parent}: {exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SpcError(f"{folder} is in use by process {holder} (another spc run writing it): wait for it to finish "
                       "or choose another output folder") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def locks_output(argument: str) -> Callable:
    """Decorate a recipe so that it runs holding the lock of its output folder (the parameter ``argument``)."""
    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            with folder_lock(sig.bind(*args, **kwargs).arguments[argument]):
                return fn(*args, **kwargs)

        return run

    return wrap
