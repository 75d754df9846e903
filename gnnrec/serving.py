"""A trained model for other pipelines: a PyG ``HeteroData`` file, and a
FAISS index that answers recommendations without the model."""
import io
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from gnnrec.data.dataset import EDGE, ITEM, REV_EDGE, USER
from gnnrec.errors import GnnrecError, option_error
from gnnrec.model import check_k
from gnnrec.outputs import write_files

INDEX_TYPES = ("flat", "hnsw", "hnsw-ip")


def _faiss():
    try:
        import faiss
    except ImportError:
        raise GnnrecError("the faiss format needs faiss: pip install gnnrec[serve]") from None
    return faiss


def export_pyg(model, path: str, overwrite: bool = False, inputs: Sequence[str] = ()) -> str:
    r"""Writes a ``HeteroData``: the embeddings as ``x`` of ``user`` and
    ``item``, the training edges both ways, and the original ids as
    ``original_id`` (a list) of each node type. ``torch.load(path,
    weights_only=False)`` returns it (PyG objects are not plain tensors)."""
    data = model.to_hetero()
    data[USER].original_id = model.users.original.tolist()
    data[ITEM].original_id = model.items.original.tolist()
    assert data[EDGE].edge_index.size(1) == data[REV_EDGE].edge_index.size(1)
    write_files({path: lambda f: torch.save(data, f)}, overwrite, inputs)
    return path


def _sidecar(path: str) -> str:
    return path + ".npz"


def export_faiss(model, path: str, index_type: str = "flat", overwrite: bool = False,
                 inputs: Sequence[str] = ()) -> Dict[str, str]:
    r"""Writes a FAISS inner-product index of the item embeddings (of the
    L2-normalised embeddings when the model ranks by cosine) to ``path`` and,
    beside it (``path + ".npz"``), the user embeddings, the id maps and the
    training pairs, so :class:`IndexRecommender` answers without the model.

    Args:
        index_type (str, optional): ``flat`` (exact inner product), ``hnsw``
            (approximate, 32 links per node, efSearch 128, over the
            inner-product-to-L2 reduction of `Bachrach et al., RecSys 2014
            <https://doi.org/10.1145/2645710.2645741>`_: each item gets the
            extra coordinate :math:`\sqrt{M^2 - \|x\|^2}`, :math:`M` the
            largest item norm, each query a 0, so the nearest item in L2 is
            the best by inner product) or ``hnsw-ip`` (HNSW searched by inner
            product directly). Which HNSW recalls more depends on the
            model's geometry (docs/scaling.rst: on a trained Gowalla DNS
            model ``hnsw-ip``, 0.986 at efSearch 256 against 0.953).
            (default: :obj:`"flat"`)
    """
    faiss = _faiss()
    if index_type not in INDEX_TYPES:
        raise option_error("index_type", f"{index_type!r} is unknown; choose from "
                                         f"{', '.join(INDEX_TYPES)}")
    user, item = (t.float().cpu().numpy() for t in model.embeddings())
    cosine = model.spec()["scorer"] == "cosine"
    if model.spec()["scorer"] == "modulated":
        raise GnnrecError("a model ranked by the modulated scorer has no embedding index "
                          "(every pair goes through its MLP)")
    if cosine:
        user = user / np.maximum(np.linalg.norm(user, axis=1, keepdims=True), 1e-12)
        item = item / np.maximum(np.linalg.norm(item, axis=1, keepdims=True), 1e-12)
    dim, max_norm = item.shape[1], 0.0
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw-ip":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    else:  # MIPS as L2 search: items [x, sqrt(M^2 - |x|^2)], queries [q, 0]
        sq = (item.astype(np.float64) ** 2).sum(1)
        max_norm = float(np.sqrt(sq.max(initial=0.0)))
        item = np.hstack([item, np.sqrt(np.maximum(max_norm ** 2 - sq, 0.0))[:, None]])
        user = np.hstack([user, np.zeros((len(user), 1), user.dtype)])
        index = faiss.IndexHNSWFlat(dim + 1, 32, faiss.METRIC_L2)
    if index_type != "flat":
        index.hnsw.efConstruction = 200
        index.hnsw.efSearch = 128
    index.add(np.ascontiguousarray(item, dtype=np.float32))
    user = user.astype(np.float32)
    graph = model.graph
    blob = faiss.serialize_index(index).tobytes()
    side = {"user_emb": user, "user_ids": model.users.original,
            "item_ids": model.items.original,
            "train_user": graph.user.cpu().numpy(), "train_item": graph.item.cpu().numpy()}
    meta = {"cosine": cosine, "index_type": index_type, "max_norm": max_norm,
            "model": model.spec(), "fingerprint": fingerprint(blob, side, index)}
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **side)
    write_files({path: lambda f: f.write(blob),
                 _sidecar(path): lambda f: f.write(buf.getvalue())}, overwrite, inputs)
    return {"index": path, "ids": _sidecar(path)}


#: what the ids file beside an index holds
SIDECAR_KEYS = ("user_emb", "user_ids", "item_ids", "train_user", "train_item", "meta")


def _sha(data) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32]


def fingerprint(blob: bytes, side: Dict[str, np.ndarray], index) -> Dict:
    r"""What ties an index file to its ids file: the index bytes' hash, its
    item count, dimension and metric, and the hash of the item id map."""
    return {"index_sha256": _sha(blob), "items": int(index.ntotal), "dim": int(index.d),
            "metric": int(index.metric_type),
            "item_ids_sha256": _sha(np.ascontiguousarray(side["item_ids"]).tobytes())}


def _check_export(path: str, blob: bytes, index, side) -> Dict:
    r"""Refuses an index and ids file that were not written together by
    :func:`export_faiss` (one line naming what differs)."""
    missing = [k for k in SIDECAR_KEYS if k not in side.files]
    if missing:
        raise GnnrecError(f"{_sidecar(path)}: not a gnnrec index export (no {missing[0]})")
    try:
        meta = json.loads(str(side["meta"]))
        want = meta["fingerprint"]
    except (ValueError, KeyError, TypeError):
        raise GnnrecError(f"{_sidecar(path)}: has no fingerprint of its index (written by an "
                          "earlier gnnrec, or not by gnnrec); export the model again") from None
    arrays = {k: side[k] for k in SIDECAR_KEYS if k != "meta"}
    got = fingerprint(blob, arrays, index)
    for key, what in (("index_sha256", "index file"), ("items", "item count"),
                      ("dim", "dimension"), ("metric", "metric"),
                      ("item_ids_sha256", "item ids")):
        if got[key] != want.get(key):
            raise GnnrecError(f"{path} and {_sidecar(path)} were not exported together (their "
                              f"{what} differs); export the model again")
    n_users, n_items = len(arrays["user_ids"]), len(arrays["item_ids"])
    ok = (arrays["user_emb"].ndim == 2 and arrays["user_emb"].shape == (n_users, index.d)
          and n_items == index.ntotal and len(arrays["train_user"]) == len(arrays["train_item"])
          and (not len(arrays["train_user"]) or (0 <= arrays["train_user"].min()
               and arrays["train_user"].max() < n_users and 0 <= arrays["train_item"].min()
               and arrays["train_item"].max() < n_items)))
    if not ok:
        raise GnnrecError(f"{_sidecar(path)}: its arrays do not fit together (damaged); export "
                          "the model again")
    return meta


class IndexRecommender:
    r"""Recommendations from an exported FAISS index (no model, no torch on
    the query path): the user's embedding is looked up, the index searched
    for ``k`` plus the user's number of training items, those items dropped.

    Args:
        path (str): the ``.faiss`` file written by :func:`export_faiss`.
    """

    def __init__(self, path: str):
        faiss = _faiss()
        if not os.path.exists(path) or not os.path.exists(_sidecar(path)):
            raise GnnrecError(f"{path}: no such index (and {_sidecar(path)} beside it)")
        if os.path.isdir(path) or os.path.isdir(_sidecar(path)):
            raise GnnrecError(f"{path}: a folder where an index file was expected")
        try:
            blob = np.fromfile(path, dtype=np.uint8)
            self.index = faiss.deserialize_index(blob)
        except Exception as e:  # a foreign or truncated file
            raise GnnrecError(f"{path}: not a FAISS index ({type(e).__name__})") from None
        try:
            side = np.load(_sidecar(path), allow_pickle=False)
            self.meta = _check_export(path, blob.tobytes(), self.index, side)
            self.user_emb = side["user_emb"]
            user_ids, item_ids = side["user_ids"], side["item_ids"]
            train_user, train_item = side["train_user"], side["train_item"]
        except GnnrecError:
            raise
        except Exception as e:  # not an npz, truncated, object arrays
            raise GnnrecError(f"{_sidecar(path)}: not a gnnrec index export "
                              f"({type(e).__name__})") from None
        from gnnrec.data.interactions import IdMap

        self.users, self.items = IdMap(user_ids), IdMap(item_ids)
        side = {"train_user": train_user, "train_item": train_item}
        order = np.argsort(side["train_user"], kind="stable")
        self.seen_items = side["train_item"][order]
        self.seen_ptr = np.concatenate([[0], np.cumsum(np.bincount(
            side["train_user"], minlength=len(self.users)))])

    def known_users(self, user_ids: Sequence) -> List[bool]:
        return (self.users.find(list(user_ids)) >= 0).tolist()

    def recommend(self, user_ids: Sequence, k: int = 10, exclude_seen: bool = True,
                  skip_unknown: bool = False) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        r"""As :meth:`gnnrec.model.RecModel.recommend`: per user, at most
        ``k`` original item ids (best first) and their scores."""
        check_k(k)
        index = self.users.find(list(user_ids))
        if not skip_unknown and np.any(index < 0):
            raise GnnrecError(f"unknown user {list(user_ids)[int(np.flatnonzero(index < 0)[0])]}")
        known = index >= 0
        seen = self.seen_ptr[index[known] + 1] - self.seen_ptr[index[known]] if exclude_seen \
            else np.zeros(int(known.sum()), np.int64)
        want = min(k + int(seen.max(initial=0)), self.index.ntotal)
        query = np.ascontiguousarray(self.user_emb[index[known]])
        scores, items = self.index.search(query, want)
        if self.meta.get("index_type") == "hnsw":  # squared L2 back to the inner product
            m2 = self.meta["max_norm"] ** 2
            scores = ((query.astype(np.float64) ** 2).sum(1, keepdims=True) + m2 - scores) / 2
            scores = scores.astype(np.float32)
        out_items, out_scores, rows = [], [], iter(range(int(known.sum())))
        for ok, u in zip(known, index):
            if not ok:
                out_items.append(self.items.original[:0])
                out_scores.append(np.zeros(0, np.float32))
                continue
            r = next(rows)
            found = items[r] >= 0
            it, sc = items[r][found], scores[r][found]
            if exclude_seen:
                drop = np.isin(it, self.seen_items[self.seen_ptr[u]:self.seen_ptr[u + 1]])
                it, sc = it[~drop], sc[~drop]
            out_items.append(self.items[it[:k]])
            out_scores.append(sc[:k])
        return out_items, out_scores
