"""Checkpoint files: atomic writes, and reloading a trained model in one line."""
import os
import tempfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.data.interactions import IdMap
from gnnrec.errors import GnnrecError

FORMAT = "gnnrec-checkpoint"
VERSION = 1


def atomic_save(obj, path: str) -> None:
    r"""``torch.save`` to a temporary file in the same folder, then rename:
    readers see the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def checkpoint_meta(dataset, model_name: str, model_options: Dict, config: Dict) -> Dict:
    r"""The static part of every checkpoint of a run: how to rebuild the
    encoder, the training graph, the id maps and where the data came from."""
    train = dataset.edges("train")
    return {
        "format": FORMAT, "version": VERSION,
        "model_spec": {"name": model_name, "options": dict(model_options)},
        "num_users": dataset.num_users, "num_items": dataset.num_items,
        "train_edges": train.to(torch.int32),
        "users": dataset.users.state(), "items": dataset.items.state(),
        "fingerprint": dataset.fingerprint(), "data": dict(dataset.source),
        "dataset_name": dataset.name, "config": dict(config),
    }


def model_state(objective, epoch: int) -> Dict:
    r"""What a checkpoint keeps of the model: the encoder's weights and the
    scorer its loss ranks with (name, size and weights: the modulated scorer
    has parameters)."""
    loss = objective.loss
    scorer = {"name": getattr(loss, "scorer_name", "dot"), "dim": objective.encoder.out_dim,
              "state": loss.scorer.state_dict() if loss.scorer is not None else {}}
    return {"epoch": epoch, "encoder": objective.encoder.state_dict(), "scorer": scorer}


def read_checkpoint(path: str, map_location="cpu") -> Dict:
    r"""Loads and checks a checkpoint file (:class:`GnnrecError` if it is
    missing or not one of ours)."""
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt, truncated or foreign file
        raise GnnrecError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise GnnrecError(f"{path}: not a gnnrec checkpoint")
    if ckpt.get("version", 0) > VERSION:
        raise GnnrecError(f"{path}: written by a newer gnnrec (format {ckpt['version']})")
    return ckpt


class TrainedModel:
    r"""A trained encoder with its training graph and id maps, reloaded from a
    checkpoint by :func:`gnnrec.load`.

    Attributes:
        encoder (Encoder): the model (a plain ``torch.nn.Module``; calling
            it on :attr:`graph` returns user and item embeddings).
        graph (RecGraph): the training interactions.
        users (IdMap), items (IdMap): contiguous index to original id.
        meta (dict): the checkpoint's metadata (config, data source, epoch).
    """

    def __init__(self, encoder, graph: RecGraph, users: IdMap, items: IdMap, meta: Dict,
                 scorer=None):
        from gnnrec.losses.scorers import Dot

        self.encoder, self.graph, self.users, self.items, self.meta = (
            encoder, graph, users, items, meta)
        self.scorer = scorer if scorer is not None else Dot()

    @classmethod
    def load(cls, path: str, map_location="cpu") -> "TrainedModel":
        from gnnrec.nn import MODELS
        from gnnrec.registry import resolve

        ckpt = read_checkpoint(path, map_location)
        spec = ckpt["model_spec"]
        encoder = resolve(MODELS, spec["name"], ckpt["num_users"], ckpt["num_items"],
                          what="model", **spec["options"])
        encoder.load_state_dict(ckpt["model"]["encoder"])
        encoder.to(map_location).eval()
        edges = ckpt["train_edges"].long().to(map_location)
        graph = RecGraph(edges[0], edges[1], ckpt["num_users"], ckpt["num_items"])
        meta = {k: v for k, v in ckpt.items() if k not in ("model", "trainer", "train_edges")}
        meta["epoch"] = ckpt["model"]["epoch"]
        scorer = None
        if "scorer" in ckpt["model"]:
            from gnnrec.losses.scorers import make_scorer

            spec_s = ckpt["model"]["scorer"]
            scorer = make_scorer(spec_s["name"], spec_s["dim"]).to(map_location)
            scorer.load_state_dict(spec_s["state"])
            scorer.eval()
        return cls(encoder, graph, IdMap.from_state(ckpt["users"]),
                   IdMap.from_state(ckpt["items"]), meta, scorer)

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    def check_dataset(self, dataset) -> None:
        r"""Refuses a dataset other than the one the model was trained on."""
        if dataset.fingerprint() != self.fingerprint:
            raise GnnrecError(
                f"the checkpoint was trained on other data ({self.meta['num_users']} users, "
                f"{self.meta['num_items']} items, fingerprint {self.fingerprint}); this dataset "
                f"has {dataset.num_users} users, {dataset.num_items} items, fingerprint "
                f"{dataset.fingerprint()}")

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""``(user_emb, item_emb)`` in index order (eval mode)."""
        self.encoder.eval()
        return self.encoder(self.graph)

    @torch.no_grad()
    def score_fn(self):
        r"""Scores of all items for a batch of users, ranked by the scorer the
        model was trained with (inner product, cosine or modulated)."""
        from gnnrec.losses.scorers import Dot
        from gnnrec.metrics.evaluator import dot_scores

        user_emb, item_emb = self.embeddings()
        if isinstance(self.scorer, Dot):
            return dot_scores(user_emb, item_emb)
        return lambda users: self.scorer.matrix(user_emb[users], item_emb)

    @torch.no_grad()
    def recommend(self, user_ids: Sequence, k: int = 10,
                  exclude_seen: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        r"""Top-``k`` items for users given by their *original* ids.

        Returns:
            ``(items, scores)``: ``(B, k)`` original item ids and their scores.
        """
        if k < 1:
            raise GnnrecError(f"--k must be >= 1, got {k}")
        index = torch.as_tensor(self.users.index_of(list(user_ids), "user"),
                                device=self.graph.device)
        scores = self.score_fn()(index).float()
        if exclude_seen:
            row, item = self.graph.positives.items_of(index)
            scores[row, item] = -torch.inf
        k = min(k, self.graph.num_items)
        top = torch.topk(scores, k, dim=1)
        return self.items[top.indices.cpu().numpy()], top.values.cpu().numpy()

    def to_hetero(self, data=None):
        r"""Attaches the embeddings as ``x`` of the ``user`` and ``item`` node
        types of ``data`` (a new ``HeteroData`` of the training graph when
        ``None``), for the next PyG model."""
        from torch_geometric.data import HeteroData

        from gnnrec.data.dataset import EDGE, ITEM, REV_EDGE, USER

        user_emb, item_emb = self.embeddings()
        if data is None:
            data = HeteroData()
            data[USER].num_nodes = self.graph.num_users
            data[ITEM].num_nodes = self.graph.num_items
            ei = torch.stack([self.graph.user, self.graph.item]).cpu()
            data[EDGE].edge_index = ei
            data[REV_EDGE].edge_index = ei.flip(0)
        if data[USER].get("num_nodes", self.graph.num_users) != self.graph.num_users:
            raise GnnrecError("the HeteroData has another number of users than the model")
        data[USER].x = user_emb.cpu()
        data[ITEM].x = item_emb.cpu()
        return data

    def export(self, path: str) -> Dict[str, str]:
        r"""Writes embeddings and id maps: ``.pt`` (one dict), or ``.npy``
        (``<stem>.users.npy``, ``<stem>.items.npy`` and the id maps as
        ``<stem>.user_ids.npy`` / ``<stem>.item_ids.npy``). Returns the
        paths written."""
        user_emb, item_emb = (t.cpu() for t in self.embeddings())
        if path.endswith(".pt"):
            atomic_save({"user_emb": user_emb, "item_emb": item_emb,
                         "user_ids": self.users.original.tolist(),
                         "item_ids": self.items.original.tolist(),
                         "model": self.meta["model_spec"], "epoch": self.meta["epoch"]}, path)
            return {"embeddings": path}
        if path.endswith(".npy"):
            stem = path[:-4]
            out = {"users": f"{stem}.users.npy", "items": f"{stem}.items.npy",
                   "user_ids": f"{stem}.user_ids.npy", "item_ids": f"{stem}.item_ids.npy"}
            arrays = {"users": user_emb.numpy(), "items": item_emb.numpy(),
                      "user_ids": self.users.original, "item_ids": self.items.original}
            for key, p in out.items():
                _atomic_npy(arrays[key], p)
            return out
        raise GnnrecError(f"{path}: export to .pt or .npy")


def _atomic_npy(array: np.ndarray, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
    with os.fdopen(fd, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def load_trainer_state(path: str, map_location="cpu") -> Optional[Dict]:
    """The trainer state of a ``last.pt`` checkpoint, checked."""
    ckpt = read_checkpoint(path, map_location)
    if "trainer" not in ckpt:
        raise GnnrecError(f"{path}: holds no trainer state (is it a best.pt?)")
    return ckpt
