r"""What in-batch losses share: which in-batch pairs to exclude, and a masked
log-sum-exp over a score matrix as one fused autograd node.

An in-batch loss scores every row of a batch against every column (the
other rows' items, or sampled neighbours). Columns the row's user has
interacted with in training (duplicates of its own positive included) are
false negatives and are *excluded*: the exclusion is built from index lists
(:meth:`~gnnrec.data.positives.PositiveSet.member_pairs`) or, on dense data,
read for the batch's entries from the membership bitmap
(:func:`member_exclusions`), never as a ``batch x num_items`` matrix.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from gnnrec.data.density import own_pick_rate
from gnnrec.data.mostpop import POPULARITY_DOMINATED, most_popular_recall
from gnnrec.model import scorer_name

NEG_INF = float("-inf")


#: the additive score of an excluded entry: exp() of it is 0 next to any finite score
EXCLUDED = -1e30
#: shifted scores are clamped here before ``exp``: the CPU's vectorised exp leaves its
#: fast path for inputs below ~-87 (an excluded entry's -1e30 among them), which made
#: ``exp`` of a batch matrix with many excluded entries ~7x slower (HDCCF on 25-core
#: Gowalla, ``benchmarks/README.rst`` section 6); exp(-87) is a normal float ~1.6e-38,
#: nothing next to the row's largest term, 1
EXP_FLOOR = -87.0


def member_exclusions(sets, rows: Tensor, cols: Tensor) -> Dict:
    r"""Which ``cols`` are in the set of each of ``rows``, as the keyword
    arguments of :func:`excluded_mask`: index lists from
    :meth:`~gnnrec.data.positives.PositiveSet.member_pairs` (whose cost
    grows with the rows' degrees), or the dense grid from the set's bitmap
    where that is cheaper: when the rows' members outnumber a quarter of the
    ``rows x cols`` entries (a join expands ~4x slower per member than a
    gather per entry). On Gowalla a batch's users hold ~140 k items against
    8 M entries (lists); on dense data a batch's *items* hold millions of
    users (the grid)."""
    work = int(sets.degree[rows].sum())
    if 4 * work > len(rows) * len(cols):
        grid = sets.member_grid(rows, cols)
        if grid is not None:
            return {"also": [grid]}
    return {"pairs": sets.member_pairs(rows, cols)}


def excluded_mask(rows: int, cols: int, device, pairs: Optional[Tuple[Tensor, Tensor]] = None,
                  own: Optional[Tensor] = None, also: Sequence[Tensor] = (),
                  keep_diagonal: bool = False) -> Tensor:
    r"""``(rows, cols)`` float indicator, 1 where a column is *not* a
    negative of the row, 0 elsewhere (float, because adding it scaled to the
    scores masks them at a fraction of the cost of boolean masking here).

    Args:
        pairs (tuple of Tensor, optional): ``(k, m)`` index lists to exclude.
        own (Tensor, optional): ``(rows, P)`` column indices of each row's own
            block (its positives), excluded.
        also (sequence of Tensor): dense 0/1 (or boolean) masks to add.
        keep_diagonal (bool): never exclude ``(k, k)`` (a square batch
            whose diagonal holds the positives, as in sampled softmax).
    """
    also = list(also)
    # the first dense mask is the start (one conversion instead of zeros and a maximum)
    mask = also.pop(0).to(torch.float32, copy=True) if also else torch.zeros(rows, cols,
                                                                             device=device)
    if own is not None:
        mask.scatter_(1, own, 1.0)
    if pairs is not None:
        mask[pairs] = 1.0
    for extra in also:
        torch.maximum(mask, extra.to(mask.dtype), out=mask)
    if keep_diagonal:
        mask.diagonal().zero_()
    return mask


class _GatherRows(torch.autograd.Function):
    r"""``all_gather`` with a backward: each process gets the gradient of
    its own rows summed over every process (an ``all_reduce`` of the
    gathered gradient, then its slice; gloo and NCCL alike)."""

    @staticmethod
    def forward(ctx, x, world, rank):
        import torch.distributed as dist

        ctx.rank, ctx.rows = rank, len(x)
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads):
        import torch.distributed as dist

        full = torch.cat(grads).contiguous()
        dist.all_reduce(full)
        return full[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows], None, None


def gather_columns(emb: Tensor, items: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
    r"""The columns of the *global* batch in a ``torchrun`` job: this
    process's rows first (so column ``k < B`` is row ``k``'s own positive),
    then every other process's in rank order, gathered with gradient (the
    backward sends each process the gradient of its own rows, summed over
    processes). Shards may differ in size by a row; they are padded for the
    collective and trimmed. Outside a job (or with one process) the input is
    returned as it is.

    Shapes:
        - **input:** ``emb`` :math:`(B, d)`, ``items`` :math:`(B)` or ``None``
        - **output:** :math:`(B_{global}, d)`, :math:`(B_{global})` or ``None``
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return emb, items
    world, rank = dist.get_world_size(), dist.get_rank()
    sizes = [torch.zeros(1, dtype=torch.long, device=emb.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([len(emb)], device=emb.device))
    sizes = [int(n) for n in sizes]
    pad = max(sizes) - len(emb)
    padded = torch.cat([emb, emb.new_zeros(pad, emb.size(1))]) if pad else emb
    parts = _GatherRows.apply(padded, world, rank)
    order = [rank] + [r for r in range(world) if r != rank]
    cols = torch.cat([emb] + [parts[r][:sizes[r]] for r in order[1:]])
    if items is None:
        return cols, None
    got = [torch.zeros(max(sizes), dtype=items.dtype, device=items.device) for _ in range(world)]
    dist.all_gather(got, torch.cat([items, items.new_zeros(pad)]) if pad else items)
    return cols, torch.cat([items] + [got[r][:sizes[r]] for r in order[1:]])


def batch_coverage(graph, batch_size: int) -> float:
    r"""The expected share of the catalogue a batch of ``batch_size``
    training pairs drawn uniformly holds,
    :math:`\frac{1}{N}\sum_j 1 - (1 - q_j)^B` with :math:`q_j =
    \deg(j) / |\mathcal D|`: near 1 on dense data (a batch of 2048 on 800
    items holds nearly all of them, the popular ones many times), ~0.04 on
    Gowalla."""
    q = graph.item_degree.double() / max(graph.num_edges, 1)
    return float((1.0 - (1.0 - q).pow(batch_size)).mean())


#: a batch holding this share of the items or more is "covering the catalogue"
COVERING = 0.5


def covering_note(name: str, graph, batch_size: int, fix: str) -> List[str]:
    r"""The start-of-run note of an in-batch loss with no popularity
    correction on a batch that covers most of the catalogue (every
    popular item is then a negative of almost every row, many times over,
    and is pushed down: on the dense synthetic set of benchmarks/README.rst
    section 6, such losses give the most popular third of items 5-7% of the
    top-20 slots against BPR + RNS's 82%, and lose 79-85% of its
    Recall@20)."""
    share = batch_coverage(graph, batch_size)
    if share < COVERING:
        return []
    return [f"{name}: a batch of {batch_size} holds ~{share:.0%} of the {graph.num_items} items, "
            f"popular ones many times, so in-batch negatives push every popular item down "
            f"(on dense data this loses to BPR + RNS); {fix}"]


def popularity_dominated(encoder, graph) -> Tuple[bool, float]:
    r"""Whether a cosine in-batch loss is known to lose on ``graph`` with
    ``encoder``: the encoder's norms carry degree (LightGCN) and the data is
    popularity-dominated (:func:`~gnnrec.data.mostpop.most_popular_recall`
    above :data:`~gnnrec.data.mostpop.POPULARITY_DOMINATED`); with the
    measured :math:`P_{20}` (0 when the encoder's norms do not carry degree:
    not computed)."""
    if not getattr(encoder, "degree_in_norm", False):
        return False, 0.0
    share = most_popular_recall(graph)
    return share > POPULARITY_DOMINATED, share


class DerivedScorer:
    r"""Mixin of the in-batch losses whose scorer :math:`f` may be derived
    from the encoder and the training graph (``scorer=None``, the default):
    the dot product where the encoder's norms carry degree (LightGCN) and
    the data is popularity-dominated (:func:`popularity_dominated`), the
    cosine (the papers' choice) elsewhere. The cosine discards the norm, so
    such a model must carry popularity in directions and loses the users'
    own order among popular items: on two popularity-dominated synthetic
    sets (:math:`P_{20}` 0.37 and 0.34) the dot scorer beat the cosine with
    LightGCN (SSM over three seeds, test Recall@20 -9.0% -> -1.7% against
    BPR + RNS; DCL -11.4% -> -1.6%; PopDCL -9.1% -> -1.7%), while on
    30-core Gowalla (:math:`P_{20}` 0.21) the cosine won (SSM +3.8%, dot
    +0.8%) (``benchmarks/README.rst`` section 6). The model's scorer follows at
    :meth:`~gnnrec.train.Objective.bind`, and the run prints the choice at
    its start (:func:`cosine_popularity_note`)."""

    #: the scorer the loss was given (``None``: derive it); the loss starts with the cosine
    requested_scorer: Optional[str] = None

    def use_scorer(self, model) -> None:
        r"""Scores with ``model``'s scorer from now on (the one
        :meth:`scorer_for` chose, which the model was given)."""
        self.scorer_name = scorer_name(model.scorer)
        self.attach(model)

    def scorer_for(self, encoder, graph) -> str:
        r"""The scorer this loss uses with ``encoder`` on ``graph``."""
        if self.requested_scorer is not None:
            return self.requested_scorer
        if self.negatives == "in_batch" and popularity_dominated(encoder, graph)[0]:
            return "dot"
        return "cosine"


def cosine_popularity_note(encoder, loss, graph) -> List[str]:
    r"""The start-of-run note of an in-batch loss on an encoder whose norms
    carry degree (LightGCN) on popularity-dominated data
    (:func:`popularity_dominated`): which scorer a derived one chose and why,
    or, for a cosine given explicitly, that it is known to lose there and
    what did better. The cosine discards the
    norm, so the model must carry popularity in directions: on the dense
    synthetic set of ``benchmarks/README.rst`` section 6 the cosine
    in-batch losses lost 9-13% to BPR + RNS with LightGCN, and the dot
    scorer recovered most of it (three seeds: SSM -9.0% to -1.7%, DCL -11.4%
    to -1.6%, PopDCL -9.1% to -1.7%); on 30-core Gowalla (:math:`P_{20}`
    0.21) the cosine wins (SSM +3.8%; dot, seed 0, +0.8%)."""
    if loss.negatives != "in_batch":
        return []
    choose = getattr(loss, "scorer_for", None)
    scorer = choose(encoder, graph) if choose is not None else loss.scorer_name
    derived = choose is not None and loss.requested_scorer is None
    if scorer not in ("cosine", "dot") or (scorer == "dot" and not derived):
        return []
    dominated, share = popularity_dominated(encoder, graph)
    if not dominated:
        return []
    name = type(loss).__name__.lower()
    why = (f"the 20 most popular items are {share:.0%} of a user's training items "
           f"(popularity-dominated data, above {POPULARITY_DOMINATED:.0%}) and "
           f"{type(encoder).__name__}'s embedding norms carry popularity, which the cosine "
           "scorer discards")
    if derived:
        return [f"{name}: scorer dot, not cosine: {why} (on such data cosine in-batch losses "
                f"lost 9-13% to BPR + RNS, dot 0-2%); {name}.scorer=cosine keeps the paper's"]
    return [f"{name}: {why} (on such data cosine in-batch losses lost 9-13% to BPR + "
            f"RNS); {name}.scorer=dot recovered most of it (SSM -9% -> -2%, DCL -11% -> -2%, "
            "PopDCL -9% -> -2%)"]


#: an in-batch loss's temperature when none is given: on sparse data, and on
#: denser data (:class:`DerivedTau`)
TAU_SPARSE, TAU_DENSE = 0.1, 0.2
#: above this rate :math:`r(16)` (:func:`gnnrec.data.density.own_pick_rate`) the
#: temperature is :data:`TAU_DENSE`: half the hard samplers' threshold
#: (:data:`~gnnrec.data.density.MAX_OWN_RATE`), between the sets where 0.1 won
#: (full and 20-core Gowalla, r 0.007 and 0.037) and those where 0.2 did (25- and
#: 30-core Gowalla, the dense synthetic set: 0.088, 0.178, 0.245)
TAU_MAX_OWN_RATE = 1 / 16


class DerivedTau:
    r"""Mixin of the in-batch losses whose ``tau`` may be derived from the
    training graph at :meth:`bind`: :data:`TAU_DENSE` where the most popular
    of 16 uniform candidates is a user's own item more than 1/16 of the time
    (:data:`TAU_MAX_OWN_RATE`; the hardest negatives are then often missing
    positives, and a higher temperature spreads the softmax's weight off
    them), :data:`TAU_SPARSE` elsewhere and before binding; the run prints
    the choice at its start (:meth:`tau_note`). Chosen on
    validation (``benchmarks/README.rst`` sections 3, 5 and 6): SSM with
    logQ, 0.1 on 20-core Gowalla, 0.2 on 30-core Gowalla and the dense
    synthetic set; DCL, PopDCL and HDCCF with logQ at 0.2 plateaued on full
    Gowalla far below BPR (validation Recall@20 0.136-0.155 against 0.197;
    DCL at 0.1 passed that in 8 epochs), 0.1 beat 0.2 for all three on
    20-core Gowalla, and on 25-core Gowalla DCL at 0.1 lost to 0.2
    (validation 0.240 against 0.267 by epoch 200)."""
    #: the pool whose own-item rate decides
    TAU_POOL = 16

    def _init_tau(self, tau: Optional[float]) -> None:
        if tau is not None and not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.requested_tau = None if tau is None else float(tau)
        self.tau = TAU_SPARSE if tau is None else float(tau)

    def _derives_tau(self) -> bool:
        return self.requested_tau is None

    def _tau_for(self, graph) -> Tuple[float, float]:
        rate = float(own_pick_rate(graph, [self.TAU_POOL])[0])
        return (TAU_DENSE if rate > TAU_MAX_OWN_RATE else TAU_SPARSE), rate

    def _bind_tau(self, graph) -> None:
        if self._derives_tau():
            self.tau = self._tau_for(graph)[0]

    def tau_note(self, graph) -> List[str]:
        r"""The start-of-run line saying which temperature was derived."""
        if not self._derives_tau():
            return []
        tau, rate = self._tau_for(graph)
        kind = "dense" if tau == TAU_DENSE else "sparse"
        return [f"{type(self).__name__.lower()}: tau {tau} (on {kind} data: the most popular "
                f"of {self.TAU_POOL} uniform candidates is a user's own item {rate:.1%} of the "
                f"time, against {TAU_MAX_OWN_RATE:.1%}); set tau to override"]


def kept_count(excluded: Tensor) -> Tensor:
    """Per row, how many entries an :func:`excluded_mask` keeps."""
    return excluded.size(1) - excluded.sum(1)


class _MaskedLSEMatmul(torch.autograd.Function):
    r""":math:`\ell_k = \log\sum_{m:\ E_{km} = 0} \exp(\mathbf{a}_k^\top
    \mathbf{b}_m + c_m)` with the score matrix built, masked, exponentiated
    and reduced in place, and the backward
    :math:`\partial\ell_k/\partial s_{km} = \mathrm{softmax}_k(s)_m` applied
    straight to the two factors: one ``mm`` forward, two backward, no
    autograd node per elementwise step. A row with nothing kept gives
    ``-inf`` and no gradient."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, excluded: Tensor, bias: Optional[Tensor]):
        s = a @ b.t()
        if bias is not None:
            s.add_(bias)
        s.add_(excluded, alpha=EXCLUDED)
        top = s.amax(1, keepdim=True)
        s.sub_(top).clamp_(min=EXP_FLOOR).exp_()
        s.addcmul_(s, excluded, value=-1.0)  # excluded entries become exactly 0
        total = s.sum(1, keepdim=True)
        empty = excluded.sum(1, keepdim=True) >= excluded.size(1)
        total.masked_fill_(empty, 0.0)
        ctx.save_for_backward(a, b, s, total)
        return (total.log() + top).squeeze(1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b, e, total = ctx.saved_tensors
        scale = torch.where(total > 0, grad.unsqueeze(1) / total, torch.zeros_like(total))
        # the gradient of the scores is e * scale (the softmax over the kept entries times
        # the upstream gradient); scale is per row, so it is applied to the factors
        # instead of to a copy of the (B, N) matrix
        grad_a = (e @ b) * scale if ctx.needs_input_grad[0] else None
        grad_b = e.t() @ (a * scale) if ctx.needs_input_grad[1] else None
        grad_bias = scale.t() @ e if ctx.needs_input_grad[3] else None
        return grad_a, grad_b, None, None if grad_bias is None else grad_bias.squeeze(0)


def masked_lse_mm(a: Tensor, b: Tensor, excluded: Tensor,
                  bias: Optional[Tensor] = None) -> Tensor:
    r"""``(len(a),)`` log-sum-exp of each row of ``a @ b.T + bias`` over the
    entries an :func:`excluded_mask` keeps (``-inf`` for a row with none),
    differentiable in ``a``, ``b`` and ``bias``: the value and gradient of
    ``torch.logsumexp`` of the masked matrix at a fraction of its memory
    traffic."""
    return _MaskedLSEMatmul.apply(a, b, excluded, bias)


def masked_lse(s: Tensor, excluded: Tensor) -> Tensor:
    r"""Row-wise log-sum-exp of a score matrix over the entries an
    :func:`excluded_mask` keeps (the unfused form, for scorers without a
    factorisation)."""
    out = torch.logsumexp(s + excluded * EXCLUDED, 1)
    return torch.where(kept_count(excluded) > 0, out, torch.full_like(out, NEG_INF))


def row_dots(a: Tensor, b: Tensor) -> Tensor:
    r"""``(B, P)`` scores of row ``k`` of ``a`` ``(B, D)`` against its own
    block ``b[k]`` of ``b`` ``(B, P, D)``."""
    return torch.einsum("bd,bpd->bp", a, b)
