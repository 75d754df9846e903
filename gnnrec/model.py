"""The model: an encoder, the scorer that ranks with it, its graph and id maps.

One object serves training (the objective encodes through it and the loss
borrows its scorer), evaluation (:meth:`RecModel.score_all`), checkpoints
(:meth:`RecModel.checkpoint` / :meth:`RecModel.from_checkpoint`) and the
one-line reload :func:`gnnrec.load`.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from gnnrec.checkpoint import read_checkpoint
from gnnrec.data.dataset import EDGE, ITEM, REV_EDGE, USER
from gnnrec.data.graph import RecGraph
from gnnrec.data.interactions import IdMap
from gnnrec.errors import GnnrecError, option_error
from gnnrec.metrics.topk import topk_rows
from gnnrec.nn import MODELS
from gnnrec.nn.base import Encoder, EncoderOutput
from gnnrec.nn.scorers import SCORERS, Scorer, make_scorer
from gnnrec.outputs import write_files
from gnnrec.registry import resolve


def encoder_name(encoder: Encoder) -> str:
    """The registry name of an encoder's class."""
    for name, cls in MODELS.items():
        if type(encoder) is cls:
            return name
    raise ValueError(f"{type(encoder).__name__} is not a registered model")


def scorer_name(scorer: Scorer) -> str:
    """The registry name of a scorer's class."""
    for name, cls in SCORERS.items():
        if type(scorer) is cls:
            return name
    raise ValueError(f"{type(scorer).__name__} is not a registered scorer")


def check_k(k) -> None:
    r"""A recommendation list length: an integer ``>= 1``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise option_error("k", f"must be an integer >= 1, got {k!r}")


class RecModel(torch.nn.Module):
    r"""A recommender: an :class:`~gnnrec.nn.Encoder` and the
    :class:`~gnnrec.nn.scorers.Scorer` :math:`f(u, i)` that ranks with its
    embeddings, bound to the training graph it propagates over, with the
    maps from indices back to the data's own ids.

    The scorer is part of the model (it may have parameters, as HDCCF's
    modulated similarity); a loss names the similarity it is defined with and
    borrows the model's, so training, evaluation and serving rank alike.

    Args:
        encoder (Encoder): the embedding model.
        scorer (str or Scorer, optional): ``dot``, ``cosine``, ``modulated``
            or an instance. (default: :obj:`"dot"`)
        graph (RecGraph, optional): the training graph (or :meth:`bind`
            later).
        users (IdMap, optional), items (IdMap, optional): index to original
            id; identity maps when ``None``.
        meta (dict, optional): what a checkpoint carried besides the model
            (epoch, run spec, data source).

    Example::

        model = gnnrec.load("runs/lightgcn/best.pt")
        items, scores = model.recommend([19, 42], k=10)
    """

    def __init__(self, encoder: Encoder, scorer: Union[str, Scorer] = "dot",
                 graph: Optional[RecGraph] = None, users: Optional[IdMap] = None,
                 items: Optional[IdMap] = None, meta: Optional[Dict] = None):
        super().__init__()
        self.encoder = encoder
        self.scorer = make_scorer(scorer, encoder.out_dim) if isinstance(scorer, str) else scorer
        self.users = users if users is not None else IdMap.identity(encoder.num_users)
        self.items = items if items is not None else IdMap.identity(encoder.num_items)
        self.meta = dict(meta or {})
        self.graph: Optional[RecGraph] = None
        if graph is not None:
            self.bind(graph)

    # ------------------------------------------------------------------ graph

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    @property
    def num_users(self) -> int:
        return self.encoder.num_users

    @property
    def num_items(self) -> int:
        return self.encoder.num_items

    def bind(self, graph: RecGraph) -> "RecModel":
        r"""Sets the training graph (moved to the model's device)."""
        graph = self.encoder.as_graph(graph)
        self.encoder.check_graph(graph)
        self.graph = graph
        self._emb_cache = None
        return self

    def _apply(self, fn, *args, **kwargs):
        self._emb_cache = None
        out = super()._apply(fn, *args, **kwargs)
        if self.graph is not None and self.graph.device != self.device:
            self.graph = self.graph.to(self.device)
        return out

    def _graph(self, graph=None) -> RecGraph:
        if graph is not None:
            return self.encoder.as_graph(graph)
        if self.graph is None:
            raise RuntimeError("the model has no graph; call bind(graph)")
        return self.graph

    # ------------------------------------------------------------------ embeddings

    def encode(self, graph=None) -> EncoderOutput:
        r"""Per-layer and pooled embeddings of every node (with gradient, in
        the current train/eval mode), on ``graph`` or the bound graph."""
        return self.encoder.encode(self._graph(graph))

    def encode_rows(self, nodes: Tensor, graph=None):
        r"""Pooled embeddings only at ``nodes`` (sorted node ids, users
        first) as a :class:`~gnnrec.nn.base.PartialOutput`, or ``None`` when
        the encoder cannot do better than :meth:`encode`."""
        return self.encoder.encode_rows(self._graph(graph), nodes)

    def forward(self, graph=None) -> Tuple[Tensor, Tensor]:
        r"""``(user_emb, item_emb)``, differentiable."""
        out = self.encode(graph)
        return out.user, out.item

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""``(user_emb, item_emb)`` in index order, in eval mode (no
        dropout), without gradient; the train/eval mode is restored.

        In eval mode the result is kept for the next call (serving one user
        a call then costs no propagation); :meth:`train`/``eval()``,
        ``load_state_dict``, :meth:`bind` and device moves drop it. Change
        parameters of an eval-mode model only through those (optimiser steps
        happen in train mode)."""
        cached = getattr(self, "_emb_cache", None)
        if cached is not None and not self.training:
            return cached
        was = self.training
        self.eval()
        try:
            out = self.encode()
            emb = out.user.detach(), out.item.detach()
        finally:
            self.train(was)
        self._emb_cache = None if was else emb
        return emb

    def train(self, mode: bool = True) -> "RecModel":
        self._emb_cache = None
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):
        self._emb_cache = None
        return super().load_state_dict(*args, **kwargs)

    @torch.no_grad()
    def ranker(self) -> Callable[[Tensor], Tensor]:
        r"""A score function ``users -> (B, num_items)`` over embeddings
        computed once now (and the item side prepared once): what full-ranking
        evaluation calls batch after batch. Take a new one after training
        steps."""
        user, item = self.embeddings()
        rank = self.scorer.ranker(item)
        return lambda users: rank(user[users])

    @torch.no_grad()
    def score(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Scores :math:`f(u, i)` of aligned index tensors (broadcasting)."""
        user, item = self.embeddings()
        return self.scorer.pair(user[users], item[items])

    @torch.no_grad()
    def score_all(self, users: Tensor) -> Tensor:
        r"""``(B, num_items)`` scores of every item for a batch of user
        indices (embeddings computed for this call; use :meth:`ranker` for
        many batches)."""
        return self.ranker()(users)

    # ------------------------------------------------------------------ serving

    def user_index(self, user_ids: Sequence) -> Tensor:
        r"""Indices of users given by their original ids (:class:`GnnrecError`
        naming the first unknown one)."""
        return torch.as_tensor(self.users.index_of(list(user_ids), "user"), device=self.device)

    @torch.no_grad()
    def recommend(self, user_ids: Sequence, k: int = 10, exclude_seen: bool = True,
                  skip_unknown: bool = False) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        r"""Top-``k`` items for users given by their *original* ids.

        Args:
            user_ids (sequence): the users, as in the data.
            k (int, optional): items per user. (default: :obj:`10`)
            exclude_seen (bool, optional): leave out the user's training
                items; a user then gets at most as many items as it has not
                seen. (default: :obj:`True`)
            skip_unknown (bool, optional): give an unknown user no items
                instead of raising. (default: :obj:`False`)

        Returns:
            ``(items, scores)``: per user, in the order given, an array of at
            most ``k`` original item ids, best first, and one of their
            scores.
        """
        check_k(k)
        ids = list(user_ids)
        known = self.known_users(ids) if skip_unknown else [True] * len(ids)
        index = self.user_index([u for u, ok in zip(ids, known) if ok])
        scores = self.score_all(index).float()
        counts = torch.full((len(index),), self.num_items, device=scores.device)
        if exclude_seen:
            row, item = self._graph().positives.items_of(index)
            scores[row, item] = -torch.inf
            counts -= self._graph().positives.degree[index]
        values, order = topk_rows(scores, min(k, self.num_items))
        order, values = order.cpu().numpy(), values.cpu().numpy()
        items_out, scores_out, answered = [], [], iter(range(len(index)))
        for ok in known:
            if not ok:
                items_out.append(self.items.original[:0])
                scores_out.append(np.zeros(0, np.float32))
                continue
            r = next(answered)
            n = min(k, int(counts[r]))
            items_out.append(self.items[order[r, :n]])
            scores_out.append(values[r, :n])
        return items_out, scores_out

    def known_users(self, user_ids: Sequence) -> List[bool]:
        """Whether each original user id is one of the model's users."""
        return (self.users.find(list(user_ids)) >= 0).tolist()

    def to_hetero(self, data=None):
        r"""Attaches the embeddings as ``x`` of the ``user`` and ``item`` node
        types of ``data`` (a new ``HeteroData`` of the training graph when
        ``None``), for the next PyG model."""
        from torch_geometric.data import HeteroData

        user_emb, item_emb = self.embeddings()
        if data is None:
            g = self._graph()
            data = HeteroData()
            data[USER].num_nodes = self.num_users
            data[ITEM].num_nodes = self.num_items
            ei = torch.stack([g.user, g.item]).cpu()
            data[EDGE].edge_index = ei
            data[REV_EDGE].edge_index = ei.flip(0)
        if data[USER].get("num_nodes", self.num_users) != self.num_users:
            raise GnnrecError("the HeteroData has another number of users than the model")
        data[USER].x = user_emb.cpu()
        data[ITEM].x = item_emb.cpu()
        return data

    def export(self, path: str, overwrite: bool = False, inputs: Sequence[str] = ()
               ) -> Dict[str, str]:
        r"""Writes embeddings and id maps: ``.pt`` (one dict), or ``.npy``
        (``<stem>.users.npy``, ``<stem>.items.npy`` and the id maps as
        ``<stem>.user_ids.npy`` / ``<stem>.item_ids.npy``), all or nothing.
        Existing files are refused unless ``overwrite``, and ``inputs`` (e.g.
        the checkpoint read) are never written over. Returns the paths
        written."""
        user_emb, item_emb = (t.cpu() for t in self.embeddings())
        if path.endswith(".pt"):
            payload = {"user_emb": user_emb, "item_emb": item_emb,
                       "user_ids": self.users.original.tolist(),
                       "item_ids": self.items.original.tolist(),
                       "model": self.spec(), "epoch": self.meta.get("epoch")}
            write_files({path: lambda f: torch.save(payload, f)}, overwrite, inputs)
            return {"embeddings": path}
        if path.endswith(".npy"):
            stem = path[:-4]
            arrays = {"users": user_emb.numpy(), "items": item_emb.numpy(),
                      "user_ids": self.users.original, "item_ids": self.items.original}
            out = {key: f"{stem}.{key}.npy" for key in arrays}
            write_files({out[key]: (lambda f, a=a: np.save(f, a, allow_pickle=False))
                         for key, a in arrays.items()}, overwrite, inputs)
            return out
        raise GnnrecError(f"{path}: export to .pt or .npy")

    # ------------------------------------------------------------------ files

    def spec(self) -> Dict:
        r"""``{"name", "options", "scorer"}``: how to rebuild the model."""
        return {"name": encoder_name(self.encoder), "options": self.encoder.options(),
                "scorer": scorer_name(self.scorer)}

    @property
    def fingerprint(self) -> str:
        """Hash of the training data (sizes and edges) the model belongs to."""
        if "fingerprint" not in self.meta:
            self.meta["fingerprint"] = self._graph().fingerprint()
        return self.meta["fingerprint"]

    def check_dataset(self, dataset) -> None:
        r"""Refuses a dataset other than the one the model was trained on."""
        if dataset.fingerprint() != self.fingerprint:
            raise GnnrecError(
                f"the checkpoint was trained on other data ({self.num_users} users, "
                f"{self.num_items} items, fingerprint {self.fingerprint}); this dataset "
                f"has {dataset.num_users} users, {dataset.num_items} items, fingerprint "
                f"{dataset.fingerprint()}")

    def checkpoint(self, **extra) -> Dict:
        r"""The model's part of a checkpoint: spec, sizes, training edges, id
        maps, fingerprint and ``state_dict``, plus ``extra`` entries."""
        g = self._graph()
        return {"model": self.spec(), "num_users": self.num_users, "num_items": self.num_items,
                "train_edges": torch.stack([g.user, g.item]).to("cpu", torch.int32),
                "users": self.users.state(), "items": self.items.state(),
                "fingerprint": self.fingerprint, "state": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, ckpt: Dict, map_location="cpu") -> "RecModel":
        r"""Rebuilds the model a :meth:`checkpoint` dict describes (also the
        format-1 checkpoints of earlier gnnrec versions)."""
        if ckpt.get("version", 2) < 2:
            ckpt = _upgrade_v1(ckpt)
        spec = ckpt["model"]
        encoder = resolve(MODELS, spec["name"], ckpt["num_users"], ckpt["num_items"],
                          what="model", **spec["options"])
        edges = ckpt["train_edges"].long().to(map_location)
        graph = RecGraph(edges[0], edges[1], ckpt["num_users"], ckpt["num_items"])
        meta = {k: v for k, v in ckpt.items()
                if k not in ("model", "state", "trainer", "train_edges", "users", "items")}
        model = cls(encoder, spec.get("scorer", "dot"), users=IdMap.from_state(ckpt["users"]),
                    items=IdMap.from_state(ckpt["items"]), meta=meta)
        model.load_state_dict(ckpt["state"])
        model.to(map_location).bind(graph)
        return model.eval()

    @classmethod
    def load(cls, path: str, map_location="cpu") -> "RecModel":
        """Reads a checkpoint file written by ``gnnrec train``."""
        return cls.from_checkpoint(read_checkpoint(path, map_location), map_location)


def _upgrade_v1(ckpt: Dict) -> Dict:
    """A format-1 checkpoint (separate encoder and scorer states) in format 2."""
    model = ckpt["model"]
    state = {f"encoder.{k}": v for k, v in model["encoder"].items()}
    scorer = model.get("scorer", {"name": "dot", "state": {}})
    state.update({f"scorer.{k}": v for k, v in scorer["state"].items()})
    out = {k: v for k, v in ckpt.items() if k not in ("model", "model_spec")}
    out.update(model={**ckpt["model_spec"], "scorer": scorer["name"]}, state=state,
               epoch=model.get("epoch"), version=2)
    return out
