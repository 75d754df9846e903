"""Where gnnrec writes, one rule for all of it: check first, never replace
what gnnrec did not make in this run (unless told), never write onto an
input, and leave nothing half-written behind."""
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import BinaryIO, Callable, Dict, Iterable, List

from gnnrec.errors import GnnrecError, write_failure
from gnnrec.lock import LOCK_NAME, OutputLock

#: what a run folder holds
RUN_FILES = ("config.json", "last.pt", "best.pt", "log.jsonl", "results.json", "refit")


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_folder(path: str, what: str = "output folder") -> None:
    r"""Raises :class:`GnnrecError` unless ``path`` is (or can be created
    as) a writable folder: a file in its place, or a parent that cannot be
    written, is found before any data is read."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise GnnrecError(f"{path}: is a file; the {what} must be a folder")
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(os.path.abspath(probe))
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise GnnrecError(f"{path}: {probe} is a file, so the {what} cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GnnrecError(f"{path}: {probe} is not writable")


def check_targets(paths: Iterable[str], overwrite: bool = False,
                  inputs: Iterable[str] = (), flag: str = "--overwrite") -> None:
    r"""Raises :class:`GnnrecError` when one of the files gnnrec is about to
    write already exists (without ``overwrite``), is one of ``inputs`` (ever:
    an output never replaces what it is made from), or cannot be written."""
    inputs = [p for p in inputs if p and os.path.exists(p)]
    for path in paths:
        for source in inputs:
            if os.path.exists(path) and _same(path, source) or os.path.abspath(path) == \
                    os.path.abspath(source):
                raise GnnrecError(f"{path}: is the input this command reads; write elsewhere")
        if os.path.isdir(path):
            raise GnnrecError(f"{path}: is a folder")
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(path) in RUN_FILES and os.path.exists(
                os.path.join(folder, "config.json")):
            raise GnnrecError(f"{path}: is a file of the run in {folder} (what it resumes "
                              "from); write elsewhere")
        if os.path.exists(path) and not overwrite:
            raise GnnrecError(f"{path}: already exists; pass {flag} to replace it")
        check_folder(os.path.dirname(os.path.abspath(path)) or ".", "folder of " + path)


def atomic_write_text(path: str, text: str) -> None:
    r"""Writes text to a temporary file beside ``path``, then renames it:
    readers see the old file or the new one; the temporary file is removed on
    every exit path; the file gets the user's umask."""
    folder = os.path.dirname(os.path.abspath(path))
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, umask_mode())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@contextmanager
def writing(path: str):
    r"""Turns the machine refusing a write of ``path`` (a full disk, a
    quota, a read-only file system) into :class:`~gnnrec.errors.WriteFailed`,
    one line for the user; anything else passes through."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        failed = write_failure(e, path)
        if failed is None:
            raise
        raise failed from None


def atomic_write_json(path: str, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def umask_mode() -> int:
    """0o666 under the process umask: the mode ``open()`` would give a new
    file (``mkstemp`` makes them 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _run_record(path: str, present: Iterable[str]) -> str:
    r"""What shows that the run folder ``path``, which has no ``last.pt``,
    holds a run: its log's last epoch, a ``best.pt``, results (``''`` when
    nothing does: a start's leftovers). gnnrec writes ``last.pt`` before the
    first epoch, so such a folder is one whose checkpoint was removed or not
    copied with it; its record is not gnnrec's to delete unasked."""
    epoch = 0
    if "log.jsonl" in present:
        with open(os.path.join(path, "log.jsonl"), "rb") as f:
            for raw in f:
                try:
                    epoch = max(epoch, int(json.loads(raw).get("epoch", 0)))
                except (ValueError, TypeError, AttributeError):  # a torn or foreign line
                    pass
    kept = [name for name in ("best.pt", "results.json") if name in present]
    return ", ".join(([f"a log to epoch {epoch}"] if epoch else []) + kept)


class RunFolderWriter:
    r"""The folder a training run writes into, made safe.

    * A new run in a folder that already holds one is refused (resume it, or
      pass ``overwrite``), and so is a folder holding files gnnrec does not
      write, and one whose run lost its ``last.pt`` (a log of trained epochs,
      a ``best.pt`` or results left: start it again with ``overwrite``).
    * With ``overwrite`` the new run is written *beside* the old one
      (``<folder>.new``) and swapped in (:meth:`commit`) only once its first
      epoch has completed; until then the old run is untouched.
    * A start that fails before the first epoch completes removes what it
      wrote (:meth:`abort`), so it does not block the next attempt; an
      interrupted one (Ctrl-C) is kept, resumable from epoch 0.

    Args:
        path (str): the run folder.
        resume (bool): continue the run in ``path``.
        overwrite (bool): replace the run in ``path``.
    """

    def __init__(self, path: str, resume: bool = False, overwrite: bool = False):
        self.final, self.resume, self.overwrite = path, resume, overwrite
        check_folder(path, "run folder")
        self.created = not os.path.exists(path)
        self.staged = False
        self.begun = False
        self.locks: List[OutputLock] = []
        try:
            os.makedirs(path, exist_ok=True)
            self.locks.append(OutputLock.for_folder(path).acquire())
        except OSError as e:
            self._forget()
            raise GnnrecError(f"{path}: cannot be written ({e.strerror or e})") from None
        except GnnrecError:
            self._forget()
            raise
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    def _forget(self) -> None:
        """A start refused before anything was written: remove the folder it made."""
        if self.created and os.path.isdir(self.final):
            shutil.rmtree(self.final, ignore_errors=True)

    def _prepare(self) -> None:
        path, resume, overwrite = self.final, self.resume, self.overwrite
        for stale in (".new", ".old"):  # only this folder's lock holder writes these, and
            leftover = path.rstrip("/") + stale  # that is now us: a killed run's leftovers
            if os.path.isdir(leftover):
                shutil.rmtree(leftover)
        if resume:
            self.path = path
            return
        present = set(os.listdir(path)) - {LOCK_NAME}
        ours = present & set(RUN_FILES)
        foreign = sorted(p for p in present - set(RUN_FILES) if not p.startswith(".tmp-"))
        if ours and "last.pt" in present and not overwrite:
            raise GnnrecError(f"{path} already holds a run; pass --resume to continue it, "
                              "--overwrite to replace it, or another --out")
        record = _run_record(path, ours) if ours and not overwrite else ""
        if record:
            raise GnnrecError(f"{path} holds a run ({record}) but no last.pt to resume it from; "
                              "pass --overwrite to start it again, or another --out")
        if foreign and not overwrite:
            raise GnnrecError(f"{path}: holds files gnnrec did not write ({', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); pick another --out")
        if present and overwrite:
            self.staged = True
            self.path = path.rstrip("/") + ".new"
            if os.path.exists(self.path):
                shutil.rmtree(self.path)
        else:
            self.path = path  # empty or absent, or only a failed start's leftovers
            for name in ours:
                _remove(os.path.join(path, name))

    def begin(self) -> None:
        r"""Creates the folder; removes temporary files a killed write left
        (a SIGKILL runs no cleanup; only this run writes here). A staged run
        locks its own folder too: after the swap that lock guards the run."""
        os.makedirs(self.path, exist_ok=True)
        self.begun = True
        if self.staged and len(self.locks) == 1:
            self.locks.append(OutputLock.for_folder(self.path).acquire())
        for name in os.listdir(self.path):
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(self.path, name))

    def commit(self) -> None:
        r"""After the first completed epoch: a staged run replaces the old
        one (moved aside, then deleted)."""
        if not self.staged:
            return
        old = self.final.rstrip("/") + ".old"
        if os.path.exists(old):
            shutil.rmtree(old)
        os.replace(self.final, old)
        os.replace(self.path, self.final)
        shutil.rmtree(old)
        self.path, self.staged = self.final, False
        self.locks.pop(0).release()  # the old run's lock went with it

    def abort(self) -> None:
        r"""After a failed start: remove what this run wrote."""
        if self.resume:
            return
        if self.staged or self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            for name in RUN_FILES:
                _remove(os.path.join(self.path, name))

    def close(self) -> None:
        r"""Releases the folder's lock (the process's end releases it too)."""
        while self.locks:
            self.locks.pop().release()


@contextmanager
def holding(paths: Iterable[str] = (), folders: Iterable[str] = ()):
    r"""Holds the :class:`~gnnrec.lock.OutputLock` of every file in
    ``paths`` and of every output folder in ``folders`` (folders are created
    when missing, and removed again when they stay empty): another gnnrec
    process writing one of them is refused with its PID."""
    made, locks = [], []
    want = [(os.path.abspath(p), False) for p in paths] + \
        [(os.path.abspath(f), True) for f in folders]
    try:
        for path, is_folder in sorted(set(want)):
            folder = path if is_folder else os.path.dirname(path)
            if not os.path.isdir(folder):
                os.makedirs(folder)
                made.append(folder)
            lock = OutputLock.for_folder(path) if is_folder else OutputLock.for_file(path)
            locks.append(lock.acquire())
        yield
    finally:
        for lock in reversed(locks):
            lock.release()
        for folder in reversed(made):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # something was written there


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def write_files(targets: Dict[str, Callable[[BinaryIO], None]], overwrite: bool = False,
                inputs: Iterable[str] = ()) -> List[str]:
    r"""Writes several files all or nothing: :func:`check_targets` first,
    then each writer fills a temporary file beside its target, and only when
    all succeeded are they renamed into place (temporary files are removed on
    every exit path). Returns the paths written."""
    check_targets(targets, overwrite, inputs)
    temps = {}
    try:
        for path, write in targets.items():
            folder = os.path.dirname(os.path.abspath(path))
            with writing(path):
                os.makedirs(folder, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
                temps[path] = tmp
                with os.fdopen(fd, "wb") as f:
                    write(f)
                os.chmod(tmp, umask_mode())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
    return list(targets)
