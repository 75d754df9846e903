"""Checkpoint files: atomic writes and checked reads (nothing else).

What goes into a checkpoint is decided by its writers (the model's
:meth:`~gnnrec.model.RecModel.checkpoint`, the run's trainer state); this
module only moves dicts of tensors to and from disk, safely.
"""
import os
import tempfile
import warnings
from typing import Dict

import torch

from gnnrec.errors import GnnrecError, write_failure
from gnnrec.outputs import umask_mode

FORMAT = "gnnrec-checkpoint"
#: 1: model_spec + encoder/scorer states (sessions 1-3); 2: one model state_dict and the run spec
VERSION = 2


def atomic_save(obj, path: str) -> None:
    r"""``torch.save`` to a temporary file in the same folder, then rename:
    readers see the old file or the new one, never half of one. The
    temporary file is removed on every exit path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        failed = write_failure(e, path) if isinstance(e, Exception) else None
        if failed is not None:
            raise failed from None
        raise


def save_checkpoint(content: Dict, path: str) -> None:
    r"""Writes ``content`` stamped with the format and version, atomically."""
    atomic_save({"format": FORMAT, "version": VERSION, **content}, path)


def read_checkpoint(path: str, map_location="cpu") -> Dict:
    r"""Loads and checks a checkpoint file (:class:`GnnrecError` if it is
    missing, unreadable, not one of ours, or from a newer gnnrec)."""
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such checkpoint")
    if os.path.isdir(path):
        raise GnnrecError(f"{path}: is a folder; give a checkpoint file (e.g. {path}/best.pt)")
    try:
        with warnings.catch_warnings():  # a damaged file is one line, not a warning and a line
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated or foreign file
        raise GnnrecError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise GnnrecError(f"{path}: not a gnnrec checkpoint")
    if ckpt.get("version", 0) > VERSION:
        raise GnnrecError(f"{path}: written by a newer gnnrec (format {ckpt['version']}); "
                          "upgrade gnnrec to read it")
    return ckpt
