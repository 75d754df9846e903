"""Writing a split dataset back to disk in the LightGCN format."""
import os
from typing import List

import numpy as np

from gnnrec.data.dataset import RecDataset


def write_lightgcn(dataset: RecDataset, folder: str) -> List[str]:
    r"""Writes ``train.txt``, ``val.txt`` and ``test.txt`` (``user item item
    ...`` over contiguous ids, one line per user with items in that split)
    and ``user_list.txt`` / ``item_list.txt`` (``org_id remap_id``, the
    LightGCN convention). Returns the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for fold in ("train", "val", "test"):
        if not dataset.has(fold):
            continue
        user, item = dataset.edges(fold).numpy()
        bounds = np.flatnonzero(np.diff(user)) + 1
        path = os.path.join(folder, f"{fold}.txt")
        with open(path, "w") as f:
            for u_items, u in zip(np.split(item, bounds), user[np.r_[0, bounds]]):
                f.write(f"{u} {' '.join(map(str, u_items.tolist()))}\n")
        written.append(path)
    for name, ids in (("user_list.txt", dataset.users), ("item_list.txt", dataset.items)):
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write("org_id remap_id\n")
            for k, orig in enumerate(ids.original.tolist()):
                f.write(f"{orig} {k}\n")
        written.append(path)
    return written
