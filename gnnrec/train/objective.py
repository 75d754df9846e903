"""What a training step minimises: encoder, sampler, loss and the L2 term."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.errors import GnnrecError
from gnnrec.losses.base import RecLoss
from gnnrec.losses.scorers import Dot
from gnnrec.metrics.evaluator import ScoreFn, dot_scores
from gnnrec.nn.base import Encoder
from gnnrec.sampling.base import NegativeSampler


class Objective(torch.nn.Module):
    r"""Encoder + negative sampler + loss + L2 penalty on ego embeddings.

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
        encoder (Encoder): the model.
        sampler (NegativeSampler, optional): where explicit negatives come
            from; ``None`` for in-batch losses.
        loss (RecLoss): the ranking loss.
        reg_weight (float, optional): :math:`\lambda`. (default: :obj:`1e-4`)
    """

    def __init__(self, encoder: Encoder, sampler: Optional[NegativeSampler], loss: RecLoss,
                 reg_weight: float = 1e-4):
        super().__init__()
        if reg_weight < 0:
            raise GnnrecError(f"--reg must be >= 0, got {reg_weight}")
        check_compatible(encoder, sampler, loss)
        self.encoder, self.sampler, self.loss = encoder, sampler, loss
        self.reg_weight = float(reg_weight)
        loss.attach(encoder)

    def bind(self, graph: RecGraph) -> "Objective":
        if self.sampler is not None:
            self.sampler.bind(graph)
        self.loss.bind(graph)
        return self

    def forward(self, graph: RecGraph, users: Tensor, items: Tensor,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Dict[str, Tensor]]:
        out = self.encoder.encode(graph)
        rows = torch.cat([users, items + out.num_users])  # one gather, one gradient buffer
        u, p = out.pooled[rows].split(len(users))
        neg = None
        if self.sampler is not None:
            neg = self.sampler(users, items, out, generator)
        loss = self.loss(u, p, None if neg is None else neg.emb, users=users, items=items,
                         out=out, graph=graph, generator=generator)
        sq = out.ego[rows].pow(2).sum()
        if neg is not None:
            sq = sq + neg.ego.pow(2).sum()
        reg = self.reg_weight * 0.5 * sq / len(users)
        stats = {"loss": loss.detach(), "reg": reg.detach()}
        if neg is not None and neg.hardness is not None:
            stats["hardness"] = torch.nanmean(neg.hardness.float())
        return loss + reg, stats

    @torch.no_grad()
    def score_fn(self, graph: RecGraph) -> ScoreFn:
        r"""Scores of all items for a batch of users, in eval mode."""
        was = self.encoder.training
        self.encoder.eval()
        try:
            out = self.encoder.encode(graph)
        finally:
            self.encoder.train(was)
        scorer = self.loss.scorer
        if scorer is None or isinstance(scorer, Dot):
            return dot_scores(out.user, out.item)
        user, item = out.user, out.item
        return lambda users: scorer.matrix(user[users], item)


def check_compatible(encoder: Encoder, sampler: Optional[NegativeSampler], loss: RecLoss) -> None:
    r"""Raises :class:`GnnrecError` for pairings that cannot train, saying
    what does combine."""
    from gnnrec.losses import LOSSES

    def names(kind):
        return ", ".join(n for n, c in LOSSES.items() if getattr(c, "negatives", None) == kind)

    if loss.negatives == "sampler" and sampler is None:
        raise GnnrecError(f"loss {type(loss).__name__} needs explicit negatives: pick a --sampler "
                          f"(losses without a sampler: {names('in_batch')}, or ssm with "
                          "in_batch=true)")
    if loss.negatives == "in_batch" and sampler is not None:
        raise GnnrecError(
            f"loss {type(loss).__name__} uses in-batch negatives and takes no sampler (got "
            f"{type(sampler).__name__}); samplers combine with: {names('sampler')}, and ssm "
            "with in_batch=false")
    if sampler is not None and sampler.needs_layers and not encoder.provides_layers:
        raise GnnrecError(f"sampler {type(sampler).__name__} mixes per-layer embeddings, and "
                          f"encoder {type(encoder).__name__} does not provide them")
