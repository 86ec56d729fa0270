"""Typed errors. The CLI turns a `UserError` into one line on stderr and exit code 2, and an
`OSError` into one line saying what to do (`os_error_line`)."""

import errno
import os
import re


class UserError(Exception):
    """Bad input from the user: a missing file, a bad config key, an empty corpus, ..."""


def os_error_line(e: OSError) -> str:
    """One line for an OS error, with the fix: a full disk, a folder that is not writable."""
    where = e.filename or ""
    if e.errno == errno.ENOSPC:
        return f"{e.strerror} while writing {where}; free space, then rerun to resume"
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and where:
        folder = where if os.path.isdir(where) else os.path.dirname(os.path.abspath(where))
        if e.errno == errno.EROFS or not os.access(folder, os.W_OK):
            return (
                f"cannot write {where}: the folder {folder} is read-only; it must be writable "
                "(or choose another workdir), then rerun"
            )
    return str(e)


def os_error_of(e: Exception, path) -> OSError | None:
    """The OS error inside a library's own exception type, by its errno (safetensors reports a
    full disk as `SafetensorError: Error while serializing: I/O error: No space left on device
    (os error 28)`, Rust's display of the error, or in its debug form `Os { code: 28, ... }`),
    or None. `os_error_line` then matches the errno, not the text."""
    m = re.search(r"\(os error (\d+)\)|\bcode: (\d+)", str(e))
    if m is None:
        return None
    code = int(m.group(1) or m.group(2))
    return OSError(code, os.strerror(code), str(path))
