"""The training graph on a device: positives, degrees and the adjacency."""
from typing import Dict, Optional

import torch
from torch import Tensor

from gnnrec.data.adjacency import NormalizedAdjacency
from gnnrec.data.cooccurrence import Cooccurrence
from gnnrec.data.dataset import EDGE, fingerprint
from gnnrec.data.positives import PositiveSet


class RecGraph:
    r"""What training and evaluation need of the training interactions, as
    tensors on one device: the positive set of every user
    (:class:`PositiveSet`), user and item degrees (popularity, from training
    edges only) and the normalised adjacency, built once per backend.

    Encoders accept a :class:`RecGraph` or a PyG ``HeteroData``;
    :meth:`from_hetero` converts the latter.

    Args:
        user (Tensor): ``(E,)`` user index of each training edge.
        item (Tensor): ``(E,)`` item index.
        num_users (int), num_items (int): the node counts.
    """

    def __init__(self, user: Tensor, item: Tensor, num_users: int, num_items: int):
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.positives = PositiveSet(user, item, num_users, num_items)
        self.user = self.positives.keys // self.num_items
        self.item = self.positives.col
        self.user_degree = self.positives.degree
        self.item_degree = torch.bincount(self.item, minlength=self.num_items)
        self._adj: Dict[str, object] = {}
        self._item_positives: Optional[PositiveSet] = None
        self._cooccurrence: Dict[str, Optional[Cooccurrence]] = {}

    @property
    def device(self) -> torch.device:
        return self.user.device

    @property
    def num_edges(self) -> int:
        return len(self.user)

    @classmethod
    def from_hetero(cls, data, device: Optional[torch.device] = None) -> "RecGraph":
        r"""From a ``HeteroData`` with ``user``/``item`` node types and the
        training ``edge_index`` on ``('user', 'interacts', 'item')`` (any
        relation name between ``user`` and ``item`` is accepted)."""
        store = None
        if EDGE in data.edge_types:
            store = data[EDGE]
        else:
            for et in data.edge_types:
                if et[0] == "user" and et[2] == "item":
                    store = data[et]
                    break
        if store is None:
            raise ValueError("HeteroData has no ('user', *, 'item') edge type")
        ei = store.edge_index.to(device) if device is not None else store.edge_index
        return cls(ei[0], ei[1], data["user"].num_nodes, data["item"].num_nodes)

    @classmethod
    def from_edges(cls, edges, num_users: int, num_items: int,
                   device: Optional[torch.device] = None) -> "RecGraph":
        r"""From a PyG graph of the user-item interactions: a ``(2, E)``
        ``edge_index`` tensor, an ``EdgeIndex`` or a
        ``torch_sparse.SparseTensor``.

        Two layouts are read: *bipartite*, users in row 0 and item ids
        ``0..num_items-1`` in row 1 (``HeteroData``'s); *homogeneous*, items
        numbered after the users and edges in either or both directions (PyG's
        ``LightGCN`` example). A size (``EdgeIndex.sparse_size()``,
        ``SparseTensor.sparse_sizes()``) of ``(U, I)`` or ``(U + I, U + I)``
        says which; a plain tensor is homogeneous when an index is beyond the
        bipartite ranges. Repeated pairs count once."""
        size = None
        if hasattr(edges, "sparse_sizes") and hasattr(edges, "coo"):  # torch_sparse
            row, col, _ = edges.coo()
            size = tuple(edges.sparse_sizes())
        else:
            row, col = edges[0], edges[1]
            if hasattr(edges, "sparse_size"):  # torch_geometric.EdgeIndex
                size = tuple(edges.sparse_size())
            row, col = row.as_subclass(Tensor), col.as_subclass(Tensor)
        row, col = row.long(), col.long()
        U, N = int(num_users), int(num_items)
        if size is not None and None not in size:
            homogeneous = tuple(size) == (U + N, U + N)
            if not homogeneous and tuple(size) != (U, N):
                raise ValueError(f"a graph of size {tuple(size)} is neither ({U}, {N}) nor "
                                 f"({U + N}, {U + N})")
        else:
            homogeneous = len(row) > 0 and (int(row.max()) >= U or int(col.max()) >= N)
        if homogeneous:
            forward = (row < U) & (col >= U)
            backward = (row >= U) & (col < U)
            row, col = (torch.cat([row[forward], col[backward]]),
                        torch.cat([col[forward], row[backward]]) - U)
        if len(row) and (int(row.max()) >= U or int(col.max()) >= N or int(row.min()) < 0
                         or int(col.min()) < 0):
            raise ValueError(f"the graph has node indices beyond {U} users and {N} items")
        if device is not None:
            row, col = row.to(device), col.to(device)
        return cls(row, col, U, N)

    @classmethod
    def from_dataset(cls, dataset, device=None) -> "RecGraph":
        ei = dataset.edges("train")
        if device is not None:
            ei = ei.to(device)
        return cls(ei[0], ei[1], dataset.num_users, dataset.num_items)

    def fingerprint(self) -> str:
        """The same hash as :meth:`RecDataset.fingerprint` of the data this
        graph was built from."""
        return fingerprint(self.num_users, self.num_items, torch.stack([self.user, self.item]))

    @property
    def item_positives(self) -> PositiveSet:
        r"""The users of every item (the transposed positive sets), built on
        first use."""
        if self._item_positives is None:
            self._item_positives = PositiveSet(self.item, self.user, self.num_items,
                                               self.num_users)
        return self._item_positives

    def cooccurrence(self, side: str, max_bytes: int = 2 ** 31) -> Optional[Cooccurrence]:
        r"""Which ``"user"`` pairs share an item (or ``"item"`` pairs a user),
        as a :class:`Cooccurrence` bitmap built on first use; ``None`` when it
        would take more than ``max_bytes`` (callers then join per batch)."""
        if side not in self._cooccurrence:
            sets = self.positives if side == "user" else self.item_positives
            fits = Cooccurrence.nbytes_for(sets) <= max_bytes
            self._cooccurrence[side] = Cooccurrence(sets) if fits else None
        return self._cooccurrence[side]

    def to(self, device) -> "RecGraph":
        if torch.device(device) == self.device:
            return self
        return RecGraph(self.user.to(device), self.item.to(device), self.num_users, self.num_items)

    def adjacency(self, backend: str = "auto"):
        r"""The normalised bipartite adjacency (users first), cached."""
        if backend not in self._adj:
            self._adj[backend] = NormalizedAdjacency(self.user, self.item, self.num_users,
                                                     self.num_items, backend)
        return self._adj[backend]
