"""Sampled softmax / InfoNCE."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import RecLoss
from gnnrec.losses.inbatch import (DerivedScorer, DerivedTau, covering_note, excluded_mask,
                                   gather_columns, masked_lse, masked_lse_mm, member_exclusions)


class SSM(DerivedScorer, DerivedTau, RecLoss):
    r"""Sampled softmax (InfoNCE) loss, as in `Wu et al. 2022, "On the
    Effectiveness of Sampled Softmax Loss for Item Recommendation"
    <https://arxiv.org/abs/2201.02327>`_:

    .. math::
        \mathcal{L} = -\frac{1}{|B|}\sum_{(u,i)} \log
        \frac{e^{f(u,i)/\tau}}{e^{f(u,i)/\tau} + \sum_{j \in \mathcal{N}_u}
        e^{f(u,j)/\tau}},

    computed as one fused masked log-sum-exp (stable for any scores). The
    negatives :math:`\mathcal{N}_u` are the sampler's ``K`` negatives, or,
    with ``in_batch``, the other rows' positive items *minus* the items the
    user has in training (copies of its own positive included): those are
    false negatives, and counting them pushes down items the user likes
    (with a graph bound; a loss called without ``users`` / ``items`` can only
    leave out the diagonal).

    With ``logq`` the in-batch logits are corrected for the popularity with
    which in-batch sampling draws items (`Yi et al., RecSys 2019
    <https://doi.org/10.1145/3298689.3346996>`_): every logit of item
    :math:`j`, the positive's included, becomes :math:`f(u,j)/\tau - \log
    q_j`, with :math:`q_j = \deg(j) / |\mathcal{D}|` the probability that a
    batch row holds :math:`j` (training popularity).

    Args:
        tau (float, optional): temperature, ``> 0``; :obj:`None` is 0.1, or
            0.2 with in-batch negatives where the most popular of 16 uniform
            candidates is a user's own item more than 1/16 of the time
            (:class:`~gnnrec.losses.inbatch.DerivedTau`; printed at the
            start of a run). (default: :obj:`None`)
        in_batch (bool, optional): in-batch negatives instead of a sampler's.
            (default: :obj:`True`)
        logq (bool, optional): the logQ correction of in-batch sampling;
            :obj:`None` applies it to in-batch negatives when the loss is
            bound to a graph and called with the batch's items (a training
            run), as the evidence says: without it the loss lost to BPR +
            RNS by 79-84% on dense synthetic data and by 9-23% on 20- and
            30-core Gowalla, with it by 9% and it won on both Gowalla cores
            (``benchmarks/README.rst`` sections 3 and 6).
            (default: :obj:`None`)
        gather (bool, optional): in a ``torchrun`` job, contrast each row with
            the positives of the *global* batch (every process's, gathered
            with gradient; exclusions and logQ as for one process running
            the global batch) instead of its own process's shard only. One
            ``all_gather`` of the batch's item embeddings and ids per step;
            no effect in a single process. (default: :obj:`False`)
        scorer (str, optional): :math:`f`: ``cosine`` (the paper's),
            ``dot`` or ``modulated``; :obj:`None` derives it: the dot product
            for in-batch negatives on popularity-dominated data with an
            encoder whose norms carry degree (LightGCN), the cosine
            elsewhere (:class:`~gnnrec.losses.inbatch.DerivedScorer`).
            (default: :obj:`None`)
    """
    summary = "sampled softmax / InfoNCE with temperature (in-batch or sampled negatives)"

    def __init__(self, tau: Optional[float] = None, in_batch: bool = True,
                 logq: Optional[bool] = None, gather: bool = False,
                 scorer: Optional[str] = None):
        super().__init__(scorer or "cosine")
        self.requested_scorer = scorer
        self._init_tau(tau)
        if logq and not in_batch:
            raise ValueError("logq corrects in-batch sampling; with in_batch=false the "
                             "negatives come from the sampler")
        if gather and not in_batch:
            raise ValueError("gather collects in-batch negatives across processes; with "
                             "in_batch=false the negatives come from the sampler")
        self.in_batch = bool(in_batch)
        #: ``True`` must correct, ``None`` corrects when it can
        self.logq = logq if logq is None else bool(logq)
        self.gather = bool(gather)
        self.positives = None
        self.log_q: Optional[Tensor] = None

    @property
    def negatives(self) -> str:
        return "in_batch" if self.in_batch else "sampler"

    def _derives_tau(self) -> bool:
        return self.requested_tau is None and self.in_batch

    def bind(self, graph) -> None:
        self._bind_tau(graph)
        self.positives = graph.positives
        deg = graph.item_degree.clamp(min=1).double()
        self.log_q = (deg / max(graph.num_edges, 1)).log().float()

    def advice(self, graph, batch_size: int) -> List[str]:
        notes = self.tau_note(graph)
        if not self.in_batch or self.logq is not False:
            return notes
        return notes + covering_note("ssm", graph, batch_size,
                                     "leave ssm.logq at its default to correct for it (dense "
                                     "synthetic set: Recall@20 0.089 -> 0.321)")

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None, *,
                users: Optional[Tensor] = None, items: Optional[Tensor] = None,
                **context) -> Tensor:
        if self.in_batch:
            return self._in_batch(user, pos, users, items)
        if neg.dim() == 2:
            neg = neg.unsqueeze(1)
        pos_logit = self.scorer.pair(user, pos).unsqueeze(1)
        neg_logit = self.scorer.many(user, neg)
        logits = torch.cat([pos_logit, neg_logit], 1) / self.tau
        return -(logits[:, 0] - torch.logsumexp(logits, 1)).mean()

    def _in_batch(self, user: Tensor, pos: Tensor, users: Optional[Tensor],
                  items: Optional[Tensor]) -> Tensor:
        B = len(user)
        cols, col_items = gather_columns(pos, items) if self.gather else (pos, items)
        if len(cols) < 2:  # a batch of one row has no in-batch negative
            return user.sum() * 0.0 + cols.sum() * 0.0
        observed = {}
        if users is not None and self.positives is not None:  # the users' training items
            observed = member_exclusions(self.positives, users, col_items)
        excluded = excluded_mask(B, len(cols), user.device, keep_diagonal=True, **observed)
        bias = None
        if self.logq and (self.log_q is None or items is None):
            raise RuntimeError("SSM with logq needs a bound graph and the batch's items")
        if self.logq is not False and self.log_q is not None and items is not None:
            bias = -self.log_q[col_items]
        if self.scorer_name == "modulated":
            logits = self.scorer.matrix(user, cols) / self.tau
            if bias is not None:
                logits = logits + bias
            return (masked_lse(logits, excluded) - logits.diagonal()).mean()
        if self.scorer_name == "cosine":
            user, cols = F.normalize(user, dim=-1), F.normalize(cols, dim=-1)
        a = user * (1.0 / self.tau)
        pos_logit = (a * cols[:B]).sum(1) + (0.0 if bias is None else bias[:B])
        return (masked_lse_mm(a, cols, excluded, bias) - pos_logit).mean()
