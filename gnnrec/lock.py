"""One gnnrec process at a time per output: an OS advisory lock on a file.

A run folder, a tuner's study folder and the files ``export`` / ``data
--save`` write are each guarded by :class:`OutputLock`, taken before any data
is read: a second process aiming at the same output is refused at once with
the holder's PID. The lock is the kernel's (``fcntl.flock``), so it ends with
the process that holds it, however that process ends: a crash leaves a lock
file behind (taken over by the next process), never a lock.
"""
import errno
import os
from typing import Optional

from gnnrec.errors import GnnrecError

#: the lock file inside a guarded folder (a run folder's own file)
LOCK_NAME = ".gnnrec.lock"


class OutputBusy(GnnrecError):
    """Another process holds the lock of an output."""


class OutputLock:
    r"""An exclusive, non-blocking lock on ``path`` (a lock file), holding
    this process's PID.

    Args:
        path (str): the lock file (created when missing, removed when
            released: the lock is non-blocking, so a process that opened the
            old file can only win it in the instant between the removal and
            the release).
        what (str): the guarded output, for the message.
    """

    def __init__(self, path: str, what: str):
        self.path, self.what = path, what
        self.fd: Optional[int] = None

    @classmethod
    def for_folder(cls, folder: str) -> "OutputLock":
        return cls(os.path.join(folder, LOCK_NAME), folder)

    @classmethod
    def for_file(cls, target: str) -> "OutputLock":
        folder, name = os.path.split(os.path.abspath(target))
        return cls(os.path.join(folder, f".{name}{LOCK_NAME}"), target)

    def acquire(self) -> "OutputLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_pid(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusy(f"{self.what}: another gnnrec process "
                                 f"{f'(PID {holder}) ' if holder else ''}is writing it; wait "
                                 "for it to end or choose another output") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def try_acquire(self) -> Optional["OutputLock"]:
        r""":meth:`acquire`, or ``None`` when another process holds the lock
        (a worker going through a queue of jobs skips a busy one)."""
        try:
            return self.acquire()
        except OutputBusy:
            return None

    def release(self) -> None:
        if self.fd is not None:
            try:  # only our own file: a swapped-in folder may hold another at this path
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    os.unlink(self.path)
            except OSError:
                pass  # its folder went first (a replaced run)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> Optional[int]:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
