"""One writer per output: an advisory OS lock (`fcntl.flock`) per stage output folder.

    with output_lock(ws.run("baseline")):          # a second process: UserError naming our pid
        ...write the run...
    with output_lock(folder, wait=True):            # shared caches: wait for the other writer

The lock lives in a sibling file `.NAME.lock` next to the folder (a folder replaced by an
atomic rename keeps its lock), holds the holder's pid and host, and is released when the
process exits, a kill -9 included: the kernel drops a dead process's locks, so there is no
stale marker to clean up. The lock file itself stays (an empty lock file is harmless; removing
it would race with the next holder).

On a filesystem shared by several nodes the lock holds across them where the filesystem
carries `flock` locks to its server: NFS does (Linux sends them as NFS byte-range locks, and
the server drops a dead node's locks when its lease ends), Lustre when mounted with `-o flock`
(not `localflock`), GPFS does. A filesystem that refuses locks is a `UserError` saying so.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError


def lock_file(folder: str | os.PathLike, part: str = "") -> Path:
    """The lock file of `folder` (`part`: a piece of it, such as one generation shard)."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}{f'.{part}' if part else ''}.lock"


@contextmanager
def output_lock(folder: str | os.PathLike, part: str = "", wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive lock of `folder` (or of its `part`) for the `with` block.

    Held by another process: wait for it (`wait`), or raise a `UserError` naming the holder's
    pid and host. Creates the lock file (and its parent folder) when missing."""
    path = lock_file(folder, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            pid, _, host = os.pread(fd, 300, 0).decode(errors="replace").strip().partition(" ")
            what = f"{Path(folder)} ({part})" if part else str(Path(folder))
            raise UserError(
                f"{what} is being written by another cdsynth process (pid {pid or 'unknown'})"
                f"{f' on host {host}' if host else ''}; wait for it to finish or stop it, "
                "then rerun"
            ) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            raise UserError(
                f"the filesystem of {path.parent} does not support file locks ({e.strerror}); "
                "choose a workdir on one that does (Lustre: mount with -o flock)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def is_locked(path: str | os.PathLike) -> bool:
    """Whether another process holds the lock file `path` now."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
