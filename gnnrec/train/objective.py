"""What a training step minimises: model, sampler, loss and the L2 term."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.errors import GnnrecError, option_error
from gnnrec.losses.base import RecLoss
from gnnrec.losses.inbatch import cosine_popularity_note
from gnnrec.model import RecModel
from gnnrec.nn.base import Encoder
from gnnrec.nn.scorers import make_scorer
from gnnrec.registry import option_names
from gnnrec.sampling.base import NegativeSampler


class Objective(torch.nn.Module):
    r"""Model + negative sampler + loss + L2 penalty on ego embeddings.

    The penalty is the one of the LightGCN authors' PyTorch code,

    .. math::
        \lambda \cdot \frac{1}{2|B|} \sum_{(u,i,j) \in B}
        \left(\|\mathbf{e}^{(0)}_u\|^2 + \|\mathbf{e}^{(0)}_i\|^2 +
        \|\mathbf{e}^{(0)}_j\|^2\right),

    on the batch's *ego* (layer-0) embeddings, each occurrence counted (a node
    twice in the batch is penalised twice). PyG's ``LightGCN`` instead
    penalises :math:`\lambda\|\mathbf{E}^{(0)}_{\text{nodes}}\|^2 / |B|`
    (no 1/2, each node once) and RecBole sums norms without the 1/2; the
    values of :math:`\lambda` are not interchangeable. With several
    negatives all of them are penalised; synthetic negatives contribute
    their synthetic layer-0 embedding.

    Args:
        model (RecModel or Encoder): the model; a bare encoder is wrapped in
            a :class:`~gnnrec.model.RecModel` with the loss's scorer.
        sampler (NegativeSampler, optional): where explicit negatives come
            from; ``None`` for in-batch losses.
        loss (RecLoss): the ranking loss; it borrows the model's scorer.
        reg_weight (float, optional): :math:`\lambda`. (default: :obj:`1e-4`)
        restrict (bool, optional): when the step's rows are known before
            propagating (a sampler that reads no embeddings, RNS or PNS, or
            none, and a loss that can name the rows it reads,
            :meth:`~gnnrec.losses.RecLoss.rows_needed`), propagate the last
            layer only to them
            (:meth:`~gnnrec.nn.Encoder.encode_rows`; LightGCN): the same
            loss and gradients, one full sparse product fewer each way.
            (default: :obj:`True`)
    """

    def __init__(self, model: Union[RecModel, Encoder], sampler: Optional[NegativeSampler],
                 loss: RecLoss, reg_weight: float = 1e-4, restrict: bool = True):
        super().__init__()
        if not reg_weight >= 0 or reg_weight == float("inf"):
            raise option_error("reg_weight", f"must be >= 0 and finite, got {reg_weight}")
        if isinstance(model, Encoder):
            model = RecModel(model, loss.scorer_name)
        check_compatible(model.encoder, sampler, loss)
        self.model, self.sampler, self.loss = model, sampler, loss
        self.reg_weight = float(reg_weight)
        self.restrict = (bool(restrict)
                         and type(model.encoder).encode_rows is not Encoder.encode_rows)
        self.clock = None  # a PhaseClock while timed (gnnrec bench)
        loss.attach(model)

    @property
    def encoder(self) -> Encoder:
        return self.model.encoder

    def advice(self, graph: RecGraph, batch_size: int) -> List[str]:
        r"""What a run prints at its start: the loss's and the sampler's
        notes on ``graph`` (options derived from the data, configurations
        known to lose there), and the loss's with this encoder
        (:func:`~gnnrec.losses.inbatch.cosine_popularity_note`)."""
        lines = self.loss.advice(graph, batch_size)
        if self.sampler is not None:
            lines = lines + self.sampler.advice(graph)
        return lines + cosine_popularity_note(self.encoder, self.loss, graph)

    def bind(self, graph: RecGraph) -> "Objective":
        self.model.bind(graph)
        if self.sampler is not None:
            self.sampler.bind(graph)
        self.loss.bind(graph)
        self._derive_scorer(graph)
        return self

    def _derive_scorer(self, graph: RecGraph) -> None:
        r"""A loss that derives its scorer from the encoder and the graph
        (:class:`~gnnrec.losses.inbatch.DerivedScorer`) gets it now, and the
        model, which ranks with it, gets the same (dot and cosine hold no
        parameters; the choice is deterministic in the training graph, so a
        resumed run makes it again)."""
        choose = getattr(self.loss, "scorer_for", None)
        if choose is None:
            return
        name = choose(self.encoder, graph)
        if name != self.loss.scorer_name:
            self.model.scorer = make_scorer(name, self.encoder.out_dim)
            self.loss.use_scorer(self.model)

    def forward(self, graph: RecGraph, users: Tensor, items: Tensor,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Dict[str, Tensor]]:
        tick = self.clock or _no_clock
        out, blind = None, None
        if self.restrict:  # the rows are known before propagating: only they get the last layer
            if self.sampler is not None:
                blind = self.sampler.blind_items(users, items, generator)
                tick("sampling")
            extra = None
            if self.sampler is None or blind is not None:
                extra = self.loss.rows_needed(users, items, graph, generator)
            if extra is not None:
                U = self.model.num_users
                parts = [users, items + U, extra]
                if blind is not None:
                    parts.append(blind.reshape(-1) + U)
                out = self.model.encode_rows(torch.unique(torch.cat(parts)), graph)
        if out is None:
            out = self.model.encode(graph)
        rows = torch.cat([users, items + out.num_users])  # one gather, one gradient buffer
        gathered = out.pooled_rows(rows)
        u, p = gathered.split(len(users))
        out.batch_user, out.batch_pos = u, p  # samplers reuse this gather
        tick("propagation")
        neg = None
        if blind is not None:
            neg = self.sampler.pack(blind, out, users, items)
            tick("sampling")
        elif self.sampler is not None:
            neg = self.sampler(users, items, out, generator)
            tick("sampling")
        loss = self.loss(u, p, None if neg is None else neg.emb, users=users, items=items,
                         out=out, graph=graph, generator=generator)
        ego = gathered if out.ego_is_pooled else out.rows(out.ego, rows)
        sq = _sum_sq(ego)
        if neg is not None:
            sq = sq + _sum_sq(neg.ego)
        reg = self.reg_weight * 0.5 * sq / len(users)
        tick("loss")
        stats = {"loss": loss.detach(), "reg": reg.detach()}
        if neg is not None and neg.hardness is not None:
            stats["hardness"] = torch.nanmean(neg.hardness.float())
        if neg is not None and neg.uniform_hardness is not None:
            stats["hardness_uniform"] = torch.nanmean(neg.uniform_hardness.float())
        return loss + reg, stats


def _no_clock(phase: str) -> None:
    pass


class _SumSq(torch.autograd.Function):
    r""":math:`\sum x^2` read once forward, one scaled copy backward (the
    negatives' rows can be ``B x K x D``: a squared temporary and the power's
    backward cost three more passes over them)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        flat = x.reshape(-1)
        return torch.dot(flat, flat)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x * (2 * grad)


def _sum_sq(x: Tensor) -> Tensor:
    return _SumSq.apply(x)


def negatives_of(loss_cls) -> str:
    """``"sampler"`` or ``"in_batch"``: where a loss class's negatives come
    from with its default options."""
    return loss_cls().negatives


def compatibility_error(loss: RecLoss, sampler_name: Optional[str]) -> Optional[str]:
    r"""Why ``loss`` cannot train with (``sampler_name``) or without (``None``)
    a sampler, naming what does combine; ``None`` when it can. The lists come
    from the loss registry, so a new loss needs no edit here."""
    from gnnrec.losses import LOSSES

    switchable = [n for n, c in LOSSES.items() if "in_batch" in option_names(c)]
    fixed = {n: negatives_of(c) for n, c in LOSSES.items() if n not in switchable}
    if loss.negatives == "sampler" and sampler_name is None:
        names = [n for n, kind in fixed.items() if kind == "in_batch"]
        return (f"loss {type(loss).__name__} needs explicit negatives: pick a sampler "
                f"(losses without a sampler: {', '.join(names)}"
                + "".join(f", or {n} with in_batch=true" for n in switchable) + ")")
    if loss.negatives == "in_batch" and sampler_name is not None:
        names = [n for n, kind in fixed.items() if kind == "sampler"]
        return (f"loss {type(loss).__name__} uses in-batch negatives and takes no sampler (got "
                f"{sampler_name}); samplers combine with: {', '.join(names)}"
                + "".join(f", and {n} with in_batch=false" for n in switchable))
    return None


def check_compatible(encoder: Encoder, sampler: Optional[NegativeSampler], loss: RecLoss) -> None:
    r"""Raises :class:`GnnrecError` for pairings that cannot train, saying
    what does combine."""
    why = compatibility_error(loss, None if sampler is None else type(sampler).__name__)
    if why:
        raise GnnrecError(why)
    if sampler is not None and sampler.needs_layers and not encoder.provides_layers:
        raise GnnrecError(f"sampler {type(sampler).__name__} mixes per-layer embeddings, and "
                          f"encoder {type(encoder).__name__} does not provide them")
