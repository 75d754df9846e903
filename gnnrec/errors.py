"""The one exception type for user mistakes (bad files, bad options)."""
from typing import Optional


class GnnrecError(Exception):
    r"""A mistake in what the user gave (a file, an option, a checkpoint).

    The command line prints its message on one line, without a traceback, and
    exits with status 2. Library code raises it for anything a user can fix;
    programming errors stay ordinary exceptions.

    Library messages name *parameters* (``epochs must be >= 1``), never
    command-line flags: an error about one parameter carries it in
    :attr:`param` and the rest of the sentence in :attr:`detail`, so the
    command line can say ``--epochs must be >= 1`` instead.

    Args:
        message (str): the whole sentence.
        param (str, optional): the parameter it is about (``"epochs"``, or
            ``"model"`` / ``"sampler"`` / ``"loss"`` for a component option).
        detail (str, optional): the sentence without the parameter's name.
        path (str, optional): where the parameter lives in a run spec
            (``"data.seed"``, ``"model.embedding_dim"``), when its name alone
            is ambiguous: the command line maps paths to flags.
    """

    def __init__(self, message: str, param: Optional[str] = None,
                 detail: Optional[str] = None, path: Optional[str] = None):
        super().__init__(message)
        self.param, self.detail, self.path = param, detail, path


def option_error(param: str, detail: str, section: Optional[str] = None) -> GnnrecError:
    r"""``GnnrecError("<param> <detail>")`` about one parameter, e.g.
    ``option_error("epochs", "must be >= 1, got 0")``; ``section`` (``data``,
    ``trainer``, ...) places it in a run spec."""
    return GnnrecError(f"{param} {detail}", param=param, detail=detail,
                       path=f"{section}.{param}" if section else None)


def data_error(path, line, message):
    """Builds a :class:`GnnrecError` naming the file and the 1-based line."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return GnnrecError(f"{where}: {message}")


class WriteFailed(GnnrecError):
    r"""The machine refused a write (a full disk, a quota, a read-only or
    failing file system): the user's to fix, not a bug. :attr:`path` is the
    file being written."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


#: errno -> what to tell the user
_WRITE_ERRNOS = {"ENOSPC": "no space left on device", "EDQUOT": "disk quota exceeded",
                 "EROFS": "read-only file system", "EIO": "input/output error",
                 "EFBIG": "file too large for the file system", "EACCES": "permission denied",
                 "EPERM": "operation not permitted"}


def write_failure(error: BaseException, path: str) -> Optional[WriteFailed]:
    r"""The :class:`WriteFailed` a failed write of ``path`` means, or
    ``None`` when ``error`` is not the machine refusing a write. torch's
    checkpoint writer reports a full disk as a ``RuntimeError`` without an
    errno; the free space of ``path``'s file system then tells."""
    import errno
    import os

    reason = None
    cause = error
    while isinstance(cause, RuntimeError) and isinstance(cause.__context__, BaseException):
        cause = cause.__context__  # torch's writer wraps the file's own OSError
    if isinstance(cause, OSError):
        error = cause
    if isinstance(error, OSError) and error.errno is not None:
        name = errno.errorcode.get(error.errno)
        reason = _WRITE_ERRNOS.get(name)
    elif isinstance(error, RuntimeError) and ("file write failed" in str(error)
                                              or "inline_container" in str(error)):
        reason = "the write failed"
        try:
            st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
            if st.f_bavail * st.f_frsize < 64 * 2 ** 20:
                reason = "no space left on device"
        except OSError:
            pass
    if reason is None:
        return None
    return WriteFailed(f"{reason} writing {path}", path)
