"""A split recommendation dataset and its PyG ``HeteroData`` views."""
import copy
import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch

from gnnrec.data.interactions import IdMap, Interactions
from gnnrec.errors import GnnrecError

USER, ITEM = "user", "item"
EDGE = (USER, "interacts", ITEM)
REV_EDGE = (ITEM, "rev_interacts", USER)
FOLDS = {"train": Interactions.TRAIN, "val": Interactions.VAL, "test": Interactions.TEST,
         "test_balanced": Interactions.TEST_BALANCED}


def fingerprint(num_users: int, num_items: int, train_edges: torch.Tensor) -> str:
    r"""A short hash of the sizes and the ``(2, E)`` training pairs sorted by
    user then item (the order of :meth:`RecDataset.edges` and of
    :class:`~gnnrec.data.graph.RecGraph`)."""
    h = hashlib.sha256()
    h.update(f"{num_users},{num_items}".encode())
    h.update(train_edges.to("cpu", torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class RecDataset:
    r"""Interactions split into train / validation / test over contiguous ids.

    :meth:`to_hetero` gives PyG views following ``AmazonBook`` /
    ``RandomLinkSplit`` conventions: node types ``user`` and ``item`` with
    ``num_nodes``; the *training* interactions as ``edge_index`` of
    ``('user', 'interacts', 'item')`` and of its reverse
    ``('item', 'rev_interacts', 'user')`` (the message-passing graph, the same
    in every view); the view's own pairs as ``edge_label_index``.
    Popularity (degrees) comes from training edges only.

    Attributes:
        name (str): a label for logs.
        inter (Interactions): every interaction with its ``fold``.
        notes (list of str): what was done to the data that a reader of the
            results must know (e.g. "validation carved out of train").
        source (dict): how to load it again (what :func:`load_dataset` took).
    """
    name: str
    inter: Interactions
    notes: List[str] = field(default_factory=list)
    source: Dict = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return self.inter.num_users

    @property
    def num_items(self) -> int:
        return self.inter.num_items

    @property
    def users(self) -> IdMap:
        return self.inter.users

    @property
    def items(self) -> IdMap:
        return self.inter.items

    def edges(self, fold: str) -> torch.Tensor:
        r"""The ``(2, E)`` user/item index pairs of ``fold`` (``"train"``,
        ``"val"``, ``"test"`` or ``"test_balanced"``), sorted by user then item."""
        if fold not in FOLDS:
            raise GnnrecError(f"unknown split {fold!r}; choose from {', '.join(FOLDS)}")
        mask = self.inter.fold == FOLDS[fold]
        user, item = self.inter.user[mask], self.inter.item[mask]
        order = np.lexsort((item, user))
        return torch.from_numpy(np.stack([user[order], item[order]]).astype(np.int64))

    def has(self, fold: str) -> bool:
        return bool(np.any(self.inter.fold == FOLDS[fold]))

    def with_validation_in_train(self) -> "RecDataset":
        r"""The same dataset with its validation interactions moved into
        training and everything else (test, ids, order) unchanged: the data
        of a refit after model selection."""
        fold = self.inter.fold
        moved = int(np.sum(fold == Interactions.VAL))
        inter = copy.copy(self.inter)
        inter.fold = np.where(fold == Interactions.VAL, Interactions.TRAIN, fold).astype(fold.dtype)
        notes = self.notes + [f"refit: the {moved} validation interactions put back into "
                              "training (the test split unchanged)"]
        return RecDataset(self.name, inter, notes, {**self.source, "refit": True})

    def to_hetero(self, fold: str = "train"):
        r"""A :class:`torch_geometric.data.HeteroData` view of one split."""
        from torch_geometric.data import HeteroData

        train = self.edges("train")
        data = HeteroData()
        data[USER].num_nodes = self.num_users
        data[ITEM].num_nodes = self.num_items
        data[EDGE].edge_index = train
        data[REV_EDGE].edge_index = train.flip(0)
        data[EDGE].edge_label_index = train if fold == "train" else self.edges(fold)
        return data

    def fingerprint(self) -> str:
        """A short hash of the sizes and the training edges: a checkpoint
        trained on other data is refused."""
        return fingerprint(self.num_users, self.num_items, self.edges("train"))

    def stats(self) -> Dict:
        """Sizes, density and degree quantiles (training edges for degrees)."""
        n_u, n_i, n = self.num_users, self.num_items, len(self.inter)
        out = {"name": self.name, "users": n_u, "items": n_i, "interactions": n,
               "density": n / max(n_u * n_i, 1)}
        for fold, code in FOLDS.items():
            out[f"{fold}_interactions"] = int(np.sum(self.inter.fold == code))
        train = self.inter.fold == Interactions.TRAIN
        qs = [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
        for side, idx, size in (("user", self.inter.user, n_u), ("item", self.inter.item, n_i)):
            deg = np.bincount(idx[train], minlength=size)
            out[f"{side}_train_degree_quantiles"] = {
                f"q{int(q * 100)}": float(np.quantile(deg, q)) for q in qs} if size else {}
        out["notes"] = list(self.notes)
        return out


def from_interactions(name: str, inter: Interactions, notes: Optional[List[str]] = None,
                      source: Optional[Dict] = None) -> RecDataset:
    """Wraps a table whose ``fold`` is set into a :class:`RecDataset`."""
    if inter.fold is None:
        raise ValueError("interactions need a fold per row; split them first")
    return RecDataset(name, inter, list(notes or []), dict(source or {}))
