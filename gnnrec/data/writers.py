"""Writing a split dataset back to disk in the LightGCN format."""
import io
import os
from typing import Iterable, List

import numpy as np

from gnnrec.data.dataset import RecDataset
from gnnrec.outputs import write_files

FOLD_FILES = ("train", "val", "test")
LIST_FILES = ("user_list.txt", "item_list.txt")


def lightgcn_files(folder: str) -> List[str]:
    """Every file :func:`write_lightgcn` may write into ``folder``."""
    return [os.path.join(folder, f"{fold}.txt") for fold in FOLD_FILES] + [
        os.path.join(folder, name) for name in LIST_FILES]


def write_lightgcn(dataset: RecDataset, folder: str, overwrite: bool = False,
                   inputs: Iterable[str] = ()) -> List[str]:
    r"""Writes ``train.txt``, ``val.txt`` and ``test.txt`` (``user item item
    ...`` over contiguous ids, one line per user with items in that split)
    and ``user_list.txt`` / ``item_list.txt`` (``org_id remap_id``, the
    LightGCN convention), all or nothing (:func:`gnnrec.outputs.write_files`:
    existing files are refused unless ``overwrite``; ``inputs`` never
    written over). Returns the paths written."""
    texts = {}
    for fold in FOLD_FILES:
        if not dataset.has(fold):
            continue
        user, item = dataset.edges(fold).numpy()
        bounds = np.flatnonzero(np.diff(user)) + 1
        buf = io.StringIO()
        for u_items, u in zip(np.split(item, bounds), user[np.r_[0, bounds]]):
            buf.write(f"{u} {' '.join(map(str, u_items.tolist()))}\n")
        texts[os.path.join(folder, f"{fold}.txt")] = buf.getvalue()
    for name, ids in zip(LIST_FILES, (dataset.users, dataset.items)):
        buf = io.StringIO()
        buf.write("org_id remap_id\n")
        for k, orig in enumerate(ids.original.tolist()):
            buf.write(f"{orig} {k}\n")
        texts[os.path.join(folder, name)] = buf.getvalue()
    return write_files({p: (lambda f, t=t: f.write(t.encode())) for p, t in texts.items()},
                       overwrite, inputs)
