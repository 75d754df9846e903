"""The encoder contract: a graph in, per-layer and pooled embeddings out."""
import abc
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph


@dataclass
class EncoderOutput:
    r"""One forward pass of an encoder over all nodes (users first).

    Attributes:
        layers (list of Tensor): the ``L + 1`` per-layer embeddings
            ``(num_users + num_items, D)``; ``layers[0]`` is the ego
            (trainable) embedding table.
        pooled (Tensor): ``pool(layers)``, ``(num_users + num_items, D_out)``.
        num_users (int): where items start.
        pool (callable): the encoder's pooling of a ``(..., L + 1, D)`` stack,
            used by samplers that synthesise per-layer negatives (MixGCF).
    """
    layers: List[Tensor]
    pooled: Tensor
    num_users: int
    pool: Callable[[Tensor], Tensor]
    #: the pooled embeddings of a training batch's positives as the objective
    #: gathered them (with gradient), for samplers that mix them in; ``None``
    #: outside an objective
    batch_pos: Optional[Tensor] = None
    #: the same for the batch's users (samplers score candidates against them)
    batch_user: Optional[Tensor] = None

    def batch_user_rows(self, users: Tensor) -> Tensor:
        """The batch's pooled user rows: the objective's gather when there is
        one, else gathered."""
        return self.user_rows(users) if self.batch_user is None else self.batch_user

    def batch_pos_rows(self, items: Tensor) -> Tensor:
        """The batch's pooled positive rows (see :meth:`batch_user_rows`)."""
        return self.item_rows(items) if self.batch_pos is None else self.batch_pos

    @property
    def user(self) -> Tensor:
        return self.pooled[:self.num_users]

    @property
    def item(self) -> Tensor:
        return self.pooled[self.num_users:]

    @property
    def ego(self) -> Tensor:
        return self.layers[0]

    @staticmethod
    def rows(table: Tensor, index: Tensor) -> Tensor:
        r"""``table[index]`` for an index of any shape, as one
        :func:`torch.index_select` (its backward is one ``index_add`` into the
        table's gradient, cheaper than advanced indexing's, and no slice of
        the table is differentiated)."""
        return table.index_select(0, index.reshape(-1)).view(*index.shape, table.size(-1))

    def pooled_rows(self, nodes: Tensor) -> Tensor:
        """Pooled embeddings of node ids (users first), ``(*nodes.shape, D_out)``."""
        return self.rows(self.pooled, nodes)

    def user_rows(self, index: Tensor) -> Tensor:
        """Pooled embeddings of users, ``(*index.shape, D_out)``."""
        return self.pooled_rows(index)

    def item_rows(self, index: Tensor) -> Tensor:
        """Pooled embeddings of items, ``(*index.shape, D_out)``."""
        return self.pooled_rows(index + self.num_users)

    def item_ego(self, index: Tensor) -> Tensor:
        return self.rows(self.layers[0], index + self.num_users)

    @property
    def ego_is_pooled(self) -> bool:
        """Whether the pooled embeddings are the ego table itself (MF), so one
        gather serves both."""
        return self.pooled is self.layers[0]

    def user_layers(self, index: Tensor) -> Tensor:
        """``(*index.shape, L + 1, D)`` per-layer embeddings of users."""
        return torch.stack([self.rows(x, index) for x in self.layers], dim=-2)

    def item_layers(self, index: Tensor) -> Tensor:
        """``(*index.shape, L + 1, D)`` per-layer embeddings of items."""
        index = index + self.num_users
        return torch.stack([self.rows(x, index) for x in self.layers], dim=-2)


@dataclass
class PartialOutput(EncoderOutput):
    r"""An :class:`EncoderOutput` whose pooled embeddings exist only at
    ``nodes`` (sorted node ids, users first): ``pooled`` is ``(len(nodes),
    D_out)`` and row lookups go through ``nodes``; ``layers`` holds the ego
    table only. What a training step needs when it knows its rows before
    propagating (:meth:`Encoder.encode_rows`)."""
    nodes: Optional[Tensor] = None

    def pooled_rows(self, nodes: Tensor) -> Tensor:
        return self.rows(self.pooled, torch.searchsorted(self.nodes, nodes))

    @property
    def user(self) -> Tensor:
        raise RuntimeError("a PartialOutput has pooled rows only at its nodes")

    item = user

    @property
    def ego_is_pooled(self) -> bool:
        return False

    def user_layers(self, index: Tensor) -> Tensor:
        raise RuntimeError("a PartialOutput keeps no per-layer embeddings")

    item_layers = user_layers


#: what an encoder takes: a RecGraph, a HeteroData, or a PyG edge_index / EdgeIndex /
#: torch_sparse.SparseTensor of the user-item graph
GraphLike = Union[RecGraph, "torch_geometric.data.HeteroData", Tensor]  # noqa: F821


class Encoder(torch.nn.Module, abc.ABC):
    r"""Base class of user/item encoders.

    Subclasses implement :meth:`encode` (graph to :class:`EncoderOutput`) and
    :meth:`pool`. Calling the module returns ``(user_emb, item_emb)`` so a
    trained encoder drops into other PyG pipelines.

    Args:
        num_users (int): number of users.
        num_items (int): number of items.
        embedding_dim (int): size of the ego embeddings.
    """
    #: whether :meth:`encode` gives per-layer embeddings a sampler may mix
    provides_layers: bool = True
    #: whether the pooled embeddings' norms grow with the node's degree
    #: (measured for LightGCN: Spearman +0.87 of item norm and degree after
    #: BPR + RNS on the dense synthetic set of ``benchmarks/README.rst``
    #: section 6, MF +0.30), so that a cosine scorer discards popularity
    degree_in_norm: bool = False

    def __init__(self, num_users: int, num_items: int, embedding_dim: int):
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.embedding_dim = int(embedding_dim)
        self.embedding = torch.nn.Embedding(self.num_users + self.num_items, self.embedding_dim)
        self._graph_cache = None

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def init_embedding(self, init: str, std: float) -> None:
        r"""Initialises the ego embeddings: ``normal`` with ``std``, or
        ``xavier``: uniform on :math:`\pm\sqrt{6 / (n + D)}`, drawn for the
        user table (:math:`n` users) and the item table (:math:`n` items)
        apart, as the AHNS and MixGCF authors' code initialises its two
        tables (``nn.init.xavier_uniform_``)."""
        weight = self.embedding.weight
        if init == "normal":
            torch.nn.init.normal_(weight, std=std)
        elif init == "xavier":
            with torch.no_grad():
                torch.nn.init.xavier_uniform_(weight[:self.num_users])
                torch.nn.init.xavier_uniform_(weight[self.num_users:])
        else:
            raise ValueError(f"init must be normal or xavier, got {init!r}")

    def options(self) -> Dict[str, Any]:
        r"""The constructor's keyword options as this instance holds them
        (every option is kept as an attribute of the same name), so
        ``type(enc)(num_users, num_items, **enc.options())`` rebuilds it."""
        names = [n for n, p in inspect.signature(type(self).__init__).parameters.items()
                 if n not in ("self", "num_users", "num_items")
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        return {n: getattr(self, n) for n in names}

    @property
    def out_dim(self) -> int:
        """Size of the pooled (final) embeddings."""
        return self.embedding_dim

    @abc.abstractmethod
    def encode(self, graph: RecGraph) -> EncoderOutput:
        """All nodes' per-layer and pooled embeddings on ``graph``."""

    def encode_rows(self, graph: RecGraph, nodes: Tensor) -> Optional[PartialOutput]:
        r"""The pooled embeddings only at ``nodes`` (sorted, distinct node
        ids), for a training step that reads no others, or ``None`` when the
        encoder has no cheaper way than :meth:`encode` (the default)."""
        return None

    @abc.abstractmethod
    def pool(self, layers: Tensor) -> Tensor:
        """Pools a ``(..., L + 1, D)`` stack into final embeddings."""

    def as_graph(self, graph: GraphLike) -> RecGraph:
        r"""A :class:`RecGraph` on this encoder's device from a
        :class:`RecGraph`, a ``HeteroData``, a PyG ``edge_index`` tensor, an
        ``EdgeIndex`` or a ``torch_sparse.SparseTensor`` of the user-item
        graph (see :meth:`RecGraph.from_edges` for the layouts). The
        conversion, and with it the normalised adjacency, is done once and
        cached while the input's edges are unchanged."""
        if isinstance(graph, RecGraph):
            return graph.to(self.device)
        if hasattr(graph, "edge_types"):  # HeteroData
            from gnnrec.data.dataset import EDGE

            edges = graph[EDGE].edge_index
            make = lambda: RecGraph.from_hetero(graph, self.device)  # noqa: E731
        else:
            sparse = hasattr(graph, "sparse_sizes") and hasattr(graph, "coo")  # torch_sparse
            edges = graph.storage.row() if sparse else graph
            make = lambda: RecGraph.from_edges(graph, self.num_users, self.num_items,  # noqa
                                               self.device)
        key = (edges.data_ptr(), edges._version, tuple(edges.shape), str(self.device))
        if self._graph_cache is None or self._graph_cache[0] != key:
            self._graph_cache = (key, make())
        return self._graph_cache[1]

    def forward(self, graph: GraphLike) -> Tuple[Tensor, Tensor]:
        r"""Returns ``(user_emb, item_emb)`` of shapes
        ``(num_users, D_out)`` and ``(num_items, D_out)``."""
        out = self.encode(self.as_graph(graph))
        return out.user, out.item

    def check_graph(self, graph: RecGraph) -> None:
        if graph.num_users != self.num_users or graph.num_items != self.num_items:
            raise ValueError(
                f"graph has {graph.num_users} users / {graph.num_items} items, the encoder "
                f"{self.num_users} / {self.num_items}")
