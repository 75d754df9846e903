"""SSM, HDCCF/DCL and PopDCL against per-example references and the papers'
identities (HDCCF Eq. 4, Theorem 1, the clamp; PopDCL Eq. 3, 6, 8)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gnnrec.data.graph import RecGraph
from gnnrec.losses import DCL, HDCCF, SSM, PopDCL
from gnnrec.losses.hdccf import debiased_log_negative_score
from gnnrec.model import RecModel
from gnnrec.nn import MF
from tests.conftest import random_graph


def setup(seed=0, users=10, items=16, dim=5):
    g = random_graph(users, items, 0.3, seed=seed)
    torch.manual_seed(seed)
    enc = MF(users, items, embedding_dim=dim)
    out = enc.encode(g)
    b_users = torch.arange(users)
    row, item = g.positives.items_of(b_users)
    b_items = item[torch.searchsorted(row, b_users)]
    return g, out, b_users, b_items


def sets_of(g):
    pos = {u: set() for u in range(g.num_users)}
    for u, i in zip(g.user.tolist(), g.item.tolist()):
        pos[u].add(i)
    return pos


def test_ssm_equals_per_example_reference():
    torch.manual_seed(0)
    u, p, n = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 3, 4)
    tau = 0.3
    loss = SSM(tau=tau, in_batch=False, scorer="dot")
    got = float(loss(u, p, n))
    ref = 0.0
    for b in range(6):
        s = [float(u[b] @ p[b]) / tau] + [float(u[b] @ n[b, k]) / tau for k in range(3)]
        ref += -(s[0] - math.log(sum(math.exp(x) for x in s)))
    assert got == pytest.approx(ref / 6, rel=1e-5)
    # in-batch with cosine: negatives are the other rows' positives
    got = float(SSM(tau=tau)(u, p))
    un, pn = torch.nn.functional.normalize(u, dim=1), torch.nn.functional.normalize(p, dim=1)
    ref = 0.0
    for b in range(6):
        s = [float(un[b] @ pn[j]) / tau for j in range(6)]
        ref += -(s[b] - math.log(sum(math.exp(x) for x in s)))
    assert got == pytest.approx(ref / 6, rel=1e-5)


def hdccf_reference(loss, g, out, users, items, gen_seed):
    """Per-row Python loops over Eq. 1-2 / 14-17 (+ Eq. 5-6, 26-27)."""
    gen = torch.Generator().manual_seed(gen_seed)
    item_nb = g.positives.sample_members(users, loss.P, gen)
    user_nb = g.item_positives.sample_members(items, loss.P, gen)
    tau, B, P = loss.tau, len(users), loss.P
    Q = P * (B - 1)
    U = out.num_users
    cosine = loss.scorer_name == "cosine"

    def f(a, b):
        a, b = a.double(), b.double()
        return float(a @ b / (a.norm() * b.norm())) if cosine else float(a @ b)
    pooled = out.pooled.detach()
    pos_sets = sets_of(g)
    item_users = {}
    for u, its in pos_sets.items():
        for i in its:
            item_users.setdefault(i, set()).add(u)

    # with logq every negative weighs 1 / (its probability of being drawn): its degree
    deg_i = np.bincount(g.item.numpy(), minlength=g.num_items)
    deg_u = np.bincount(g.user.numpy(), minlength=g.num_users)

    def weight(x, side):
        return 1.0 / (deg_i if side == "item" else deg_u)[x] if loss.logq else 1.0

    def mean(scores, ids, side):
        w = [weight(x, side) for x in ids]
        return sum(wx * math.exp(s) for wx, s in zip(w, scores)) / sum(w)

    def debiased(neg_scores, neg_observed, pos_scores, omega, ids, side):
        kept = [(s, x) for s, o, x in zip(neg_scores, neg_observed, ids) if not o]
        mean_neg = mean(*zip(*kept), side) if kept else None
        mean_pos = sum(math.exp(s) for s in pos_scores) / len(pos_scores)
        bound = Q * math.exp(-1 / tau)
        if mean_neg is None:
            return bound
        return max(Q / (1 - omega) * (mean_neg - omega * mean_pos), bound)

    total = 0.0
    for k in range(B):
        u, i = int(users[k]), int(items[k])
        eu, ei = pooled[u], pooled[U + i]
        s_pos = f(eu, ei) / tau
        others = [m for m in range(B) if m != k]
        neg_items = [int(item_nb[m, p]) for m in others for p in range(P)]
        neg_users = [int(user_nb[m, p]) for m in others for p in range(P)]
        s_ni = [f(eu, pooled[U + j]) / tau for j in neg_items]
        s_nu = [f(pooled[v], ei) / tau for v in neg_users]
        if loss.debias:
            pos_i = [f(eu, pooled[U + int(j)]) / tau for j in item_nb[k]] + [s_pos]
            pos_u = [f(pooled[int(v)], ei) / tau for v in user_nb[k]] + [s_pos]
            F_i = debiased(s_ni, [j in pos_sets[u] for j in neg_items], pos_i, loss.omega_item,
                           neg_items, "item")
            F_u = debiased(s_nu, [i in pos_sets[v] for v in neg_users], pos_u, loss.omega_user,
                           neg_users, "user")
        else:
            F_i = len(s_ni) * mean(s_ni, neg_items, "item")
            F_u = len(s_nu) * mean(s_nu, neg_users, "user")
        if not loss.contrasts_users:
            F_u = 0.0
        total += -(s_pos - math.log(F_i + F_u + math.exp(s_pos))) / B
        # auxiliary terms (Eq. 5 / 17): user-user with positives user_nb[k]
        for lam, anchor, pos_nb, neg_nb, emb_off, shares, side in (
                (loss.lambda_u, eu, user_nb[k], neg_users, 0,
                 lambda v: bool(pos_sets[u] & pos_sets[v]), "user"),
                (loss.lambda_i, ei, item_nb[k], neg_items, U,
                 lambda j: bool(item_users[i] & item_users[j]), "item")):
            if lam == 0:
                continue
            keep = [x for x in neg_nb if not (loss.debias and shares(x))]
            neg_sum = 0.0
            if keep:
                scores = [f(anchor, pooled[emb_off + x]) / tau for x in keep]
                neg_sum = (Q if loss.debias else len(keep)) * mean(scores, keep, side)
            for x in pos_nb:
                sp = f(anchor, pooled[emb_off + int(x)]) / tau
                total += lam * -(sp - math.log(math.exp(sp) + neg_sum)) / (B * P)
    return total


@pytest.mark.parametrize("options", [
    {"debias": False, "scorer": "dot"},
    {"debias": True, "scorer": "dot", "omega_item": 0.1, "omega_user": 0.2},
    {"debias": True, "scorer": "cosine", "num_neighbors": 3},
    {"debias": True, "lambda_u": 0.0, "lambda_i": 0.5, "user_negatives": False},
    {"debias": True, "lambda_u": 0.2, "lambda_i": 0.5, "user_negatives": True},
    {"debias": True, "scorer": "dot", "logq": True, "lambda_u": 0.3, "lambda_i": 0.5},
    {"debias": False, "scorer": "cosine", "logq": True, "lambda_u": 0.3, "lambda_i": 0.5},
])
def test_hdccf_equals_per_example_reference(options):
    g, out, users, items = setup(seed=1)
    loss = HDCCF(tau=0.5, **options)
    loss.attach(RecModel(MF(1, 1, 5), loss.scorer_name))
    loss.bind(g)
    got = float(loss(out.user[users], out.item[items], users=users, items=items, out=out,
                     graph=g, generator=torch.Generator().manual_seed(3)).detach())
    want = hdccf_reference(loss, g, out, users, items, 3)
    assert got == pytest.approx(want, rel=1e-4)


def test_dcl_is_hdccf_items_only():
    g, out, users, items = setup(seed=2)
    a = DCL(tau=0.5, omega=0.1, scorer="dot")
    b = HDCCF(tau=0.5, omega_item=0.1, omega_user=0.0, lambda_u=0, lambda_i=0,
              user_negatives=False, num_neighbors=1, scorer="dot")
    a.bind(g), b.bind(g)
    kw = dict(users=users, items=items, out=out, graph=g)
    la = a(out.user[users], out.item[items], generator=torch.Generator().manual_seed(0), **kw)
    lb = b(out.user[users], out.item[items], generator=torch.Generator().manual_seed(0), **kw)
    assert float(la.detach()) == pytest.approx(float(lb.detach()))


def test_masked_lse_mm_value_and_gradient():
    r"""The fused masked log-sum-exp equals ``torch.logsumexp`` of the masked
    score matrix (``-inf`` for a row with nothing kept) and differentiates
    its own value in both factors and the column bias; the row with
    nothing kept gets no gradient."""
    from gnnrec.losses.inbatch import masked_lse_mm

    torch.manual_seed(0)
    a = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, requires_grad=True)
    excluded = (torch.rand(5, 7) < 0.4).double()
    excluded[2] = 1.0  # nothing kept
    out = masked_lse_mm(a, b, excluded, bias)
    ref = torch.logsumexp((a @ b.t() + bias).masked_fill(excluded.bool(), float("-inf")), 1)
    assert torch.equal(torch.isinf(out), torch.tensor([False, False, True, False, False]))
    torch.testing.assert_close(out[[0, 1, 3, 4]], ref[[0, 1, 3, 4]])
    kept = [0, 1, 3, 4]
    assert torch.autograd.gradcheck(lambda x, y, c: masked_lse_mm(x, y, excluded, c)[kept],
                                    (a, b, bias))
    upstream = torch.zeros(5, dtype=torch.float64)
    upstream[2] = 1.0
    grads = torch.autograd.grad(masked_lse_mm(a, b, excluded, bias), (a, b, bias), upstream)
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


@pytest.mark.parametrize("options", [
    {"debias": False, "scorer": "dot", "lambda_u": 0.0, "lambda_i": 0.0},
    {"debias": True, "scorer": "dot", "omega_item": 0.1, "omega_user": 0.2},
    {"debias": True, "scorer": "cosine", "num_neighbors": 3},
    {"debias": True, "scorer": "modulated", "num_neighbors": 2},
    {"debias": True, "scorer": "modulated", "logq": True},
    {"debias": False, "scorer": "cosine", "logq": True},
])
def test_hdccf_training_gradient_is_the_gradient_of_its_value(options):
    r"""The path ``forward`` takes (the fused masked log-sum-exp products
    and their hand-written backward) differentiates its own value: float64
    finite differences over every embedding, auxiliary terms included. With
    the value equal to the per-example reference above, the gradient that
    trains is HDCCF's."""
    from gnnrec.nn.base import EncoderOutput

    g, out, users, items = setup(seed=1)
    loss = HDCCF(tau=0.5, **options)
    model = RecModel(MF(1, 1, 5), loss.scorer_name)
    loss.attach(model)
    loss.bind(g)
    model.double()
    weight = out.pooled.detach().double().requires_grad_(True)

    def value(w):
        o = EncoderOutput([w], w, g.num_users, lambda layers: layers[..., 0, :])
        return loss(o.user[users], o.item[items], users=users, items=items, out=o, graph=g,
                    generator=torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(value, (weight,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_debiased_score_reduces_to_biased_at_omega_zero():
    torch.manual_seed(0)
    tau = 0.1
    neg = torch.rand(5, 12) * 2 / tau - 1 / tau  # logits of cosine scores in [-1, 1]
    pos = torch.rand(5, 3) / tau
    everything = torch.ones(5, 12, dtype=torch.bool)
    got = debiased_log_negative_score(neg, everything, pos, omega=0.0, q=12, tau=tau)
    assert torch.allclose(got, torch.logsumexp(neg, 1), atol=1e-5)


def test_clamp_holds():
    torch.manual_seed(1)
    tau, q = 0.2, 8
    neg = torch.randn(50, q) * 3
    pos = torch.randn(50, 4) * 3 + 2  # strong positives drive the estimate below zero
    unobs = torch.rand(50, q) > 0.3
    unobs[0] = False  # a row with no unobserved negative
    got = debiased_log_negative_score(neg, unobs, pos, omega=0.6, q=q, tau=tau)
    bound = math.log(q) - 1 / tau
    assert torch.isfinite(got).all() and (got >= bound - 1e-6).all()
    assert float(got[0]) == pytest.approx(bound)
    assert (got == bound).any() and (got > bound).any()


def test_theorem1_unbiased_by_monte_carlo():
    # items 0..9 are true negatives, 10..14 false negatives (really positives);
    # sampling from unobserved items mixes them: p = w+ p+ + w- p-.
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(-1, 0.5, 10), rng.uniform(0.5, 1.0, 5)])
    true_neg, false_neg = np.arange(10), np.arange(10, 15)
    w, N, P, draws, tau = 0.3, 16, 4, 40000, 1.0
    is_false = rng.random((draws, N)) < w
    neg_items = np.where(is_false, rng.choice(false_neg, (draws, N)),
                         rng.choice(true_neg, (draws, N)))
    pos_items = rng.choice(false_neg, (draws, P))  # positives drawn from p+
    log_f = debiased_log_negative_score(
        torch.tensor(scores[neg_items] / tau), torch.ones(draws, N, dtype=torch.bool),
        torch.tensor(scores[pos_items] / tau), omega=w, q=N, tau=1e-3)  # clamp out of reach
    estimate = torch.exp(log_f).numpy() / N
    target = np.exp(scores[true_neg] / tau).mean()  # E_{p-}[e^{f/tau}]
    biased = np.exp(scores[neg_items] / tau).mean()
    se = estimate.std() / np.sqrt(draws)
    assert abs(estimate.mean() - target) < 4 * se
    assert abs(biased - target) > 10 * se  # the plain mean is biased


def toy_popdcl():
    # users 0, 1; items 0..3; train: u0 {0, 1}, u1 {1, 2, 3}; pop = (1, 2, 1, 1), N = 5
    g = RecGraph(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 2, 3]), 2, 4)
    loss = PopDCL(tau=0.5, negative_correction=True)  # Eq. 8 even on this dense toy
    loss.bind(g)
    return g, loss


def test_popdcl_omega_and_m_plus_by_hand():
    g, loss = toy_popdcl()
    users, items = torch.tensor([0, 1, 1]), torch.tensor([0, 2, 1])
    scores = torch.tensor([[0.5, -0.2, 0.1], [0.3, 0.9, -0.4], [0.0, 0.2, 0.7]])
    m_plus, omega = loss.corrections(users, items, scores)
    # omega+(u) = sum of the user's item popularities / N (Eq. 8)
    assert omega.tolist() == pytest.approx([3 / 5, 4 / 5, 4 / 5])
    # P(i not in N_u) = pop(i) / sum pop (Eq. 3); f^- = mean of the row's other scores (Eq. 5)
    p_not = [1 / 3, 1 / 4, 2 / 4]
    f_minus = [(-0.2 + 0.1) / 2, (0.3 - 0.4) / 2, (0.0 + 0.2) / 2]
    want = [1 / (1 + math.exp(-p * f)) for p, f in zip(p_not, f_minus)]
    assert m_plus.tolist() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("correction", [True, False], ids=["eq8", "no-m-minus"])
@pytest.mark.parametrize("logq", [False, True], ids=["plain", "logq"])
@pytest.mark.parametrize("mask", [False, True], ids=["index-lists", "dense-mask"])
def test_popdcl_equals_per_example_reference(mask, logq, correction, monkeypatch):
    # both forms of the exclusions (index lists on sparse data, a B x B mask on dense)
    monkeypatch.setattr("gnnrec.losses.popdcl.use_mask", lambda *a: mask)
    g, out, users, items = setup(seed=4, users=8, items=12)
    loss = PopDCL(tau=0.5, logq=logq, negative_correction=correction)
    loss.bind(g)
    got = float(loss(out.user[users], out.item[items], users=users, items=items).detach())
    un = torch.nn.functional.normalize(out.user[users].detach().double(), dim=1)
    pn = torch.nn.functional.normalize(out.item[items].detach().double(), dim=1)
    pos_sets = sets_of(g)
    pop = np.bincount(g.item.numpy(), minlength=g.num_items)
    N = g.num_edges
    tau, B = 0.5, len(users)
    # with logq each negative weighs 1 / (its probability of being drawn), and the means
    # and sums are self-normalised: weighted means, times the number of negatives
    weight = [1.0 / max(pop[int(items[j])], 1) if logq else 1.0 for j in range(B)]
    ref = 0.0
    for k in range(B):
        u, i = int(users[k]), int(items[k])
        f = [float(un[k] @ pn[j]) for j in range(B)]
        # negatives: the batch's items the user has not interacted with in training
        others = [j for j in range(B) if int(items[j]) not in pos_sets[u]]
        wsum = sum(weight[j] for j in others)
        popsum = sum(pop[x] for x in pos_sets[u])
        f_minus = sum(weight[j] * f[j] for j in others) / wsum if others else 0.0
        m_plus = 1 / (1 + math.exp(-(pop[i] / popsum) * f_minus))
        w = popsum / N if correction else 0.0  # Eq. 8, or no M- correction (omega+ 0)
        num = math.exp((f[k] - m_plus) / tau)
        terms = sum(weight[j] * max((math.exp(f[j] / tau) - w * math.exp(f[k] / tau)) / (1 - w),
                                    math.exp(-1 / tau)) for j in others)
        den = num + (terms * len(others) / wsum if others else 0.0)
        ref += -math.log(num / den) / B
    assert got == pytest.approx(ref, rel=1e-5)


def test_popdcl_paper_negatives_keep_the_users_own_items(monkeypatch):
    # exclude_observed=False is the paper's B \ {i}: every other row is a negative
    g, out, users, items = setup(seed=4, users=8, items=12)
    loss = PopDCL(exclude_observed=False)
    loss.bind(g)
    rows, cols = loss.excluded_pairs(users, items)
    assert rows.tolist() == cols.tolist() == list(range(len(users)))
    own = PopDCL(logq=False)
    own.bind(g)
    assert len(own.excluded_pairs(users, items)[0]) > len(users)  # the setup has such pairs


@pytest.mark.parametrize("name", ["ssm", "dcl", "hdccf", "popdcl"])
def test_tiny_batch_where_every_negative_is_a_positive(name):
    # two users with the same two items: every in-batch negative of a row is a
    # training positive of its user (HDCCF/DCL fall back to the clamp, the
    # auxiliary terms to 0); the loss stays finite and trains
    from gnnrec.losses import LOSSES
    from gnnrec.train.objective import Objective

    g = RecGraph(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]), 2, 3)
    torch.manual_seed(0)
    enc = MF(2, 3, embedding_dim=4)
    obj = Objective(enc, None, LOSSES[name]()).bind(g)
    loss, _ = obj(g, torch.tensor([0, 1]), torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(enc.embedding.weight.grad).all()


@pytest.mark.parametrize("name", ["ssm", "dcl", "hdccf", "popdcl"])
def test_a_batch_of_one_row_contributes_zero(name):
    # e.g. the last batch of an epoch: no in-batch negative exists
    from gnnrec.losses import LOSSES

    g = RecGraph(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 2)
    out = MF(2, 2, embedding_dim=3).encode(g)
    loss = LOSSES[name]()
    loss.attach(RecModel(MF(1, 1, 3), loss.scorer_name))
    loss.bind(g)
    value = loss(out.user[:1], out.item[:1], users=torch.tensor([0]), items=torch.tensor([0]),
                 out=out, graph=g)
    assert float(value.detach()) == 0.0 and value.requires_grad


def masking_batch():
    """Users 0..3 over items 0..5 with overlapping training sets; the batch
    holds a duplicate of a positive (item 0 twice) and a user's other
    training item (row 1 is u0's item 1, a false negative for row 0)."""
    train = {0: [0, 1, 2], 1: [0, 3], 2: [3, 4], 3: [5, 1]}
    u = torch.tensor([x for x, its in train.items() for _ in its])
    i = torch.tensor([y for its in train.values() for y in its])
    g = RecGraph(u, i, 4, 6)
    users, items = torch.tensor([0, 0, 1, 2, 3]), torch.tensor([0, 1, 0, 4, 5])
    return g, train, users, items


def in_batch_reference(loss, g, train, users, items, user_emb, item_emb, masked=True):
    """Per row: softmax over the positive and the batch items the user has
    not interacted with (every batch item but the row's own when unmasked)."""
    un = torch.nn.functional.normalize(user_emb.double(), dim=1)
    pn = torch.nn.functional.normalize(item_emb.double(), dim=1)
    deg = np.bincount(g.item.numpy(), minlength=g.num_items)
    total = 0.0
    for k in range(len(users)):
        u = int(users[k])
        logit = [float(un[k] @ pn[j]) / loss.tau for j in range(len(users))]
        if loss.logq is not False:  # on by default, with a graph and the items
            logit = [x - math.log(deg[int(items[j])] / g.num_edges) for j, x in enumerate(logit)]
        negs = [j for j in range(len(users))
                if j != k and (not masked or int(items[j]) not in train[u])]
        total += -(logit[k] - math.log(sum(math.exp(logit[j]) for j in [k] + negs)))
    return total / len(users)


@pytest.mark.parametrize("options", [{"logq": False}, {}, {"logq": True},
                                     {"tau": 0.5, "logq": True}])
def test_ssm_never_counts_a_users_training_item_as_a_negative(options):
    g, train, users, items = masking_batch()
    torch.manual_seed(0)
    user_emb, item_emb = torch.randn(5, 4), torch.randn(5, 4)
    loss = SSM(**options)
    loss.bind(g)
    got = float(loss(user_emb, item_emb, users=users, items=items))
    want = in_batch_reference(loss, g, train, users, items, user_emb, item_emb)
    assert got == pytest.approx(want, rel=1e-5)
    # the unmasked variant is a different number: the test tells them apart
    assert got != pytest.approx(in_batch_reference(loss, g, train, users, items, user_emb,
                                                   item_emb, masked=False), rel=1e-3)


def test_popdcl_never_counts_a_users_training_item_as_a_negative():
    g, train, users, items = masking_batch()
    loss = PopDCL(tau=0.5)
    loss.bind(g)
    excluded = loss.excluded(users, items)
    for k in range(len(users)):
        negatives = {j for j in range(len(users)) if excluded[k, j] == 0}
        assert negatives == {j for j in range(len(users)) if int(items[j]) not in train[
            int(users[k])]}
    # rows 0 and 2 share item 0; row 1's item 1 is u0's: none is a negative of row 0
    assert excluded[0].tolist() == [1, 1, 1, 0, 0]


def test_popdcl_negative_term_gradients():
    from gnnrec.losses.inbatch import excluded_mask
    from gnnrec.losses.popdcl import _corrected_lse

    torch.manual_seed(0)
    B, tau = 6, 0.3
    s = ((torch.rand(B, B) * 2 - 1) / tau).double().requires_grad_()
    s_pos = s.diagonal().detach().clone().requires_grad_()
    w = torch.rand(B).double() * 0.5
    ex = excluded_mask(B, B, "cpu", own=torch.arange(B)[:, None]).double()
    ex[0, 3] = 1
    pairs = ex.nonzero(as_tuple=True)
    kept = B - ex.sum(1)
    assert torch.autograd.gradcheck(  # scores given as logits (inv_tau 1) and as cosines
        lambda a, b: _corrected_lse(a, b, pairs, kept, w.log(), torch.log1p(-w), -1 / tau),
        (s, s_pos))
    assert torch.autograd.gradcheck(
        lambda a, b: _corrected_lse(a, b, pairs, kept, w.log(), torch.log1p(-w), -1 / tau,
                                    1 / tau), ((s * tau).detach().requires_grad_(), s_pos))
    assert torch.autograd.gradcheck(  # the exclusions as a dense mask of the kept entries
        lambda a, b: _corrected_lse(a, b, 1.0 - ex, kept, w.log(), torch.log1p(-w), -1 / tau),
        (s, s_pos))
    col = torch.rand(B).double() + 0.1  # logq: a weight per column
    for excluded in (pairs, 1.0 - ex):
        assert torch.autograd.gradcheck(
            lambda a, b: _corrected_lse(a, b, excluded, kept, w.log(), torch.log1p(-w),
                                        -1 / tau, 1.0, col), (s, s_pos))


@pytest.mark.parametrize("loss", [SSM(logq=False, tau=0.1), DCL(logq=False),
                                  HDCCF(logq=False), PopDCL(logq=False)],
                         ids=lambda x: type(x).__name__)
def test_in_batch_loss_without_popularity_correction_warns_when_a_batch_covers_the_catalogue(loss):
    from gnnrec.losses.inbatch import batch_coverage

    dense = random_graph(200, 40, 0.3, seed=1)  # a batch of 256 holds every item
    sparse = random_graph(200, 4000, 0.002, seed=1, min_items=1)  # it holds ~6% of them
    assert batch_coverage(dense, 256) > 0.95 and batch_coverage(sparse, 256) < 0.1
    logq_notes = lambda g, b: [n for n in loss.advice(g, b) if "logq" in n]  # noqa: E731
    notes = logq_notes(dense, 256)
    assert len(notes) == 1
    assert logq_notes(sparse, 256) == []
    assert logq_notes(dense, 2) == []  # two rows cover little of 40 items


def test_ssm_with_logq_or_sampled_negatives_has_nothing_to_say():
    dense = random_graph(200, 40, 0.3, seed=1)
    assert SSM(logq=True, tau=0.1).advice(dense, 256) == []
    assert SSM(tau=0.1).advice(dense, 256) == []  # corrected by default
    assert SSM(in_batch=False).advice(dense, 256) == []  # nor is tau derived


@pytest.mark.parametrize("loss", [DCL(), HDCCF(), PopDCL()], ids=lambda x: type(x).__name__)
def test_in_batch_losses_correct_for_popularity_by_default(loss):
    dense = random_graph(200, 40, 0.3, seed=1)
    assert loss.logq is True and not any("logq" in n for n in loss.advice(dense, 256))


def dense_and_sparse():
    """Two graphs on either side of :func:`~gnnrec.data.density.is_dense`."""
    from gnnrec.data.density import is_dense

    dense, sparse = random_graph(200, 40, 0.3, seed=1), random_graph(400, 4000, 0.002, seed=1)
    assert is_dense(dense) and not is_dense(sparse)
    return dense, sparse


def bound(loss, graph, state, word):
    """``(state(loss), notes naming word)`` once ``loss`` is bound to ``graph``."""
    loss.bind(graph)
    return state(loss), [n for n in loss.advice(graph, 256) if word in n]


def test_hdccf_leaves_out_its_negative_users_by_default_on_any_data():
    dense, sparse = dense_and_sparse()

    def users(graph, **options):
        return bound(HDCCF(**options), graph, lambda loss: loss.contrasts_users, "negative users")

    for graph in (dense, sparse):
        contrasts, (note,) = users(graph)
        assert not contrasts and "hdccf.user_negatives=true keeps them" in note
        contrasts, (note,) = users(graph, user_negatives=True)  # asked for: kept, with a warning
        assert contrasts and "leaving hdccf.user_negatives at its default drops them" in note
    # None, a saved run's earlier default, still derives: on unless the data is dense
    assert users(sparse, user_negatives=None) == (True, [])
    assert not users(dense, user_negatives=None)[0]
    assert not any("negative users" in n for n in DCL().advice(dense, 256))  # it has none
    # the default is the loss without negative users, not with them
    torch.manual_seed(0)
    for graph in (dense, sparse):
        u = torch.unique(graph.user)[:64]
        row, item = graph.positives.items_of(u)
        i = item[torch.searchsorted(row, u)]
        out = MF(graph.num_users, graph.num_items, embedding_dim=8).encode(graph)
        value = {}
        for name, opts in (("default", {}), ("off", {"user_negatives": False}),
                           ("on", {"user_negatives": True})):
            loss = HDCCF(**opts)
            loss.attach(RecModel(MF(1, 1, 5), loss.scorer_name))
            loss.bind(graph)
            value[name] = float(loss(out.user[u], out.item[i], users=u, items=i, out=out,
                                     graph=graph, generator=torch.Generator().manual_seed(0))
                                .detach())
        assert value["default"] == value["off"] != value["on"]


def test_hdccf_leaves_out_its_auxiliary_terms_by_default_on_any_data():
    from gnnrec.losses.hdccf import LAMBDA

    dense, sparse = dense_and_sparse()

    def weights(graph, **options):
        return bound(HDCCF(**options), graph, lambda loss: (loss.lambda_u, loss.lambda_i),
                     "item-item terms")

    for graph in (dense, sparse):
        off, (note,) = weights(graph)
        assert off == (0.0, 0.0) and "set hdccf.lambda_u and hdccf.lambda_i to keep" in note
        assert weights(graph, lambda_u=0.3, lambda_i=0.2) == ((0.3, 0.2), [])  # given: kept
    assert weights(sparse, lambda_i=0.1) == ((0.0, 0.1), [])
    # None, a saved run's earlier default, still derives: the paper's 0.1 unless dense
    assert weights(sparse, lambda_u=None, lambda_i=None)[0] == (LAMBDA, LAMBDA)
    assert weights(dense, lambda_u=None, lambda_i=None)[0] == (0.0, 0.0)
    assert weights(dense, lambda_u=0.3, lambda_i=None)[0] == (0.3, 0.0)  # only the None one
    assert not any("item-item" in n for n in DCL().advice(dense, 256))  # it has none
    assert HDCCF().lambda_u == HDCCF().lambda_i == 0.0
    with pytest.raises(ValueError, match="lambda_u"):
        HDCCF(lambda_u=-1.0)


def test_popdcl_drops_its_negative_correction_on_dense_data_only():
    dense, sparse = dense_and_sparse()

    def correction(graph, **options):
        return bound(PopDCL(**options), graph, lambda loss: loss.corrects_negatives,
                     "M- correction")

    corrects, (note,) = correction(dense)
    assert not corrects and "popdcl.negative_correction=true keeps it" in note
    assert correction(sparse) == (True, [])
    # asked for, or with the paper's negative set (the user's items among them), it stays
    assert correction(dense, negative_correction=True) == (True, [])
    assert correction(dense, exclude_observed=False) == (True, [])
    assert correction(sparse, negative_correction=False) == (False, [])
    # on dense data the default is the loss without the correction, not with it
    torch.manual_seed(0)
    u, p = torch.randn(64, 8), torch.randn(64, 8)
    e = torch.randint(0, dense.num_edges, (64,), generator=torch.Generator().manual_seed(0))
    batch = {"users": dense.user[e], "items": dense.item[e]}
    value = {}
    for name, opts in (("default", {}), ("off", {"negative_correction": False}),
                       ("on", {"negative_correction": True})):
        loss = PopDCL(**opts)
        loss.bind(dense)
        value[name] = float(loss(u, p, **batch))
    assert value["default"] == value["off"] != value["on"]


@pytest.mark.parametrize("cls", [SSM, DCL, HDCCF, PopDCL])
def test_in_batch_temperature_is_derived_where_hard_negatives_are_often_own_items(cls):
    dense, sparse = dense_and_sparse()
    loss = cls()
    assert loss.tau == 0.1  # before binding
    loss.bind(dense)
    assert loss.tau == 0.2 and "tau 0.2 (on dense data" in loss.advice(dense, 256)[0]
    loss.bind(sparse)
    assert loss.tau == 0.1 and "tau 0.1 (on sparse data" in loss.advice(sparse, 256)[0]
    fixed = cls(tau=0.5)
    fixed.bind(dense)
    assert fixed.tau == 0.5 and not any("tau" in n for n in fixed.advice(dense, 256))


def test_class_prior_is_how_often_a_uniform_item_is_one_of_a_rows_users_items():
    from gnnrec.data.density import class_prior

    g = random_graph(30, 50, 0.2, seed=3)
    train = set(zip(g.user.tolist(), g.item.tolist()))
    # over the rows (training edges), the share of all items that the row's user has
    by_rows = np.mean([sum((u, j) in train for j in range(g.num_items)) / g.num_items
                       for u in g.user.tolist()])
    assert class_prior(g) == pytest.approx(by_rows, rel=1e-12)
    by_items = np.mean([sum((v, i) in train for v in range(g.num_users)) / g.num_users
                        for i in g.item.tolist()])
    assert class_prior(g, "user") == pytest.approx(by_items, rel=1e-12)
    # rows weigh users by degree: above the plain density unless all degrees are equal
    assert class_prior(g) > g.num_edges / (g.num_users * g.num_items)
    with pytest.raises(ValueError, match="side"):
        class_prior(g, "edge")


@pytest.mark.parametrize("cls,option", [(DCL, "omega"), (HDCCF, "omega_item")])
def test_omega_is_derived_from_the_class_prior_up_to_its_cap(cls, option):
    from gnnrec.data.density import class_prior
    from gnnrec.losses.hdccf import OMEGA_CAP

    dense, sparse = dense_and_sparse()
    prior = class_prior(sparse)
    assert prior < OMEGA_CAP < class_prior(dense)
    loss = cls()
    assert loss.omega_item == OMEGA_CAP  # before binding
    loss.bind(sparse)
    assert loss.omega_item == pytest.approx(prior)
    (note,) = [n for n in loss.advice(sparse, 256) if f" {option} " in n]
    assert f"class prior {prior:.2%}" in note and f"{cls.__name__.lower()}.{option}" in note
    assert "clamp" in note
    loss.bind(dense)
    assert loss.omega_item == OMEGA_CAP
    (note,) = [n for n in loss.advice(dense, 256) if f" {option} " in n]
    assert "its cap" in note
    given = cls(**{option: 0.05})
    given.bind(sparse)
    assert given.omega_item == 0.05 and not any(f" {option} " in n
                                                for n in given.advice(sparse, 256))


def test_hdccf_derives_its_users_omega_from_the_users_side():
    from gnnrec.data.density import class_prior

    _, sparse = dense_and_sparse()
    loss = HDCCF(user_negatives=True)
    loss.bind(sparse)
    assert loss.contrasts_users
    assert loss.omega_user == pytest.approx(class_prior(sparse, "user"))
    assert any(" omega_user " in n for n in loss.advice(sparse, 256))
    assert DCL().omega_user == 0.0  # DCL has no negative users


@pytest.mark.parametrize("cls", [SSM, DCL, HDCCF, PopDCL])
def test_temperature_turns_at_half_the_hard_samplers_rate(cls):
    # 25-core Gowalla's case: own items are 1/16-1/8 of the hardest of 16 uniform
    # candidates; the samplers keep their pools there, the losses take tau 0.2
    from gnnrec.data.density import is_dense, own_pick_rate

    between, below = random_graph(400, 400, 0.06, seed=1), random_graph(400, 400, 0.03, seed=1)
    assert 1 / 16 < float(own_pick_rate(between, [16])[0]) < 1 / 8 and not is_dense(between)
    assert float(own_pick_rate(below, [16])[0]) < 1 / 16
    loss = cls()
    loss.bind(between)
    assert loss.tau == 0.2
    loss.bind(below)
    assert loss.tau == 0.1


def test_hdccf_simplifies_at_the_temperature_threshold_not_the_samplers():
    from gnnrec.data.density import own_pick_rate

    between, below = random_graph(400, 400, 0.06, seed=1), random_graph(400, 400, 0.03, seed=1)
    assert 1 / 16 < float(own_pick_rate(between, [16])[0]) < 1 / 8
    # the earlier defaults (None), which saved runs keep: both parts go at the threshold
    legacy = HDCCF(user_negatives=None, lambda_u=None, lambda_i=None)
    legacy.bind(between)
    assert not legacy.contrasts_users and legacy.lambda_u == legacy.lambda_i == 0.0
    legacy.bind(below)
    assert legacy.contrasts_users and legacy.lambda_u == legacy.lambda_i == 0.1


def test_batch_coverage_equals_the_share_of_items_a_drawn_batch_holds():
    g = random_graph(300, 200, 0.05, seed=2)
    gen = torch.Generator().manual_seed(0)
    held = [len(torch.unique(g.item[torch.randint(g.num_edges, (64,), generator=gen)]))
            / g.num_items for _ in range(400)]
    from gnnrec.losses.inbatch import batch_coverage
    assert batch_coverage(g, 64) == pytest.approx(float(np.mean(held)), rel=0.02)


def test_hdccf_logq_weights_turn_popularity_drawn_negatives_into_uniform_ones():
    r"""Negatives drawn in proportion to popularity, weighted by ``logq``,
    average as if drawn uniformly from the catalogue (self-normalised
    importance sampling); unweighted they average under popularity."""
    items = torch.arange(50).repeat_interleave(torch.arange(1, 51))  # item j: j + 1 users
    g = RecGraph(torch.arange(len(items)) % 300, items, 300, 50)
    assert torch.equal(g.item_degree, torch.arange(1, 51))
    loss = HDCCF(logq=True)
    loss.bind(g)
    gen = torch.Generator().manual_seed(0)
    drawn = g.item[torch.randint(g.num_edges, (200_000,), generator=gen)]  # as a batch draws
    value = torch.linspace(0, 1, 50)  # any function of the item
    bias, log_w = loss._weights("item", drawn, torch.zeros(1, len(drawn)))
    weighted = float((bias.exp() * value[drawn]).sum() / log_w.exp())
    assert weighted == pytest.approx(float(value.mean()), abs=0.01)
    assert float(value[drawn].mean()) > float(value.mean()) + 0.1  # popularity-weighted
    assert HDCCF(logq=False)._weights("item", drawn, torch.zeros(1, len(drawn))) == (None, None)


def test_user_neighbours_are_drawn_and_propagated_only_where_a_term_scores_them():
    g, out, users, items = setup(seed=4, users=30, items=20)

    def rows(loss):
        loss.bind(g)
        return loss.rows_needed(users, items, g, torch.Generator().manual_seed(0))

    only_items = rows(DCL())
    assert len(only_items) == len(users) and bool((only_items >= g.num_users).all())
    for options in ({"user_negatives": True, "lambda_u": 0.0}, {"user_negatives": False,
                                                                "lambda_u": 0.1}):
        both = rows(HDCCF(**options))
        assert len(both) == 2 * 2 * len(users) and int((both < g.num_users).sum()) == 2 * len(users)
    # the item draws are the same either way: dropping the user draw changes nothing before it
    assert torch.equal(rows(HDCCF(user_negatives=False, lambda_u=0.0, num_neighbors=1)),
                       only_items)


def popularity_graphs():
    r"""A graph whose users mostly hold the 20 most popular items
    (:math:`P_{20}` ~0.8) and a sparse uniform one (~0.02)."""
    from gnnrec.data.mostpop import POPULARITY_DOMINATED, most_popular_recall

    rng = np.random.default_rng(0)
    p = np.where(np.arange(60) < 20, 0.8, 0.05)
    mask = rng.random((100, 60)) < p
    u, i = np.nonzero(mask)
    popular = RecGraph(torch.as_tensor(u), torch.as_tensor(i), 100, 60)
    flat = random_graph(400, 2000, 0.01, seed=1)
    assert most_popular_recall(popular) > POPULARITY_DOMINATED > most_popular_recall(flat)
    return popular, flat


@pytest.mark.parametrize("loss", [SSM, DCL, HDCCF, PopDCL], ids=lambda x: x.__name__)
def test_in_batch_loss_on_lightgcn_says_which_scorer_on_popularity_dominated_data(loss):
    from gnnrec.nn import LightGCN
    from gnnrec.train.objective import Objective

    popular, flat = popularity_graphs()

    def note(encoder, fn, graph):
        return [n for n in Objective(encoder, None, fn).advice(graph, 256)
                if "popularity-dominated" in n]

    lightgcn = LightGCN(popular.num_users, popular.num_items, 8)
    lines = note(lightgcn, loss(), popular)
    assert len(lines) == 1 and "discards" in lines[0]
    # derived: says what it chose and the override
    assert "scorer dot, not cosine" in lines[0] and "scorer=cosine" in lines[0]
    cosine = note(lightgcn, loss(scorer="cosine"), popular)
    assert len(cosine) == 1 and "scorer=dot recovered" in cosine[0]
    assert note(lightgcn, loss(scorer="dot"), popular) == []
    assert note(MF(popular.num_users, popular.num_items, 8), loss(), popular) == []
    assert note(LightGCN(popular.num_users, popular.num_items, 8, num_layers=0), loss(),
                popular) == []
    assert note(LightGCN(flat.num_users, flat.num_items, 8), loss(), flat) == []


@pytest.mark.parametrize("loss", [SSM, DCL, HDCCF, PopDCL], ids=lambda x: x.__name__)
def test_derived_scorer_is_dot_only_where_degree_norms_meet_popularity_dominated_data(loss):
    from gnnrec.nn import LightGCN
    from gnnrec.nn.scorers import Cosine, Dot
    from gnnrec.train.objective import Objective

    popular, flat = popularity_graphs()

    def bound(encoder, fn, graph):
        objective = Objective(encoder, None, fn).bind(graph)
        # the loss and the model that ranks with it agree
        assert objective.loss.scorer is objective.model.scorer
        return type(objective.model.scorer)

    def lightgcn(graph, **kw):
        return LightGCN(graph.num_users, graph.num_items, 8, **kw)

    assert bound(lightgcn(popular), loss(), popular) is Dot
    assert bound(lightgcn(flat), loss(), flat) is Cosine  # not popularity-dominated
    assert bound(MF(popular.num_users, popular.num_items, 8), loss(), popular) is Cosine
    assert bound(lightgcn(popular, num_layers=0), loss(), popular) is Cosine
    assert bound(lightgcn(popular), loss(scorer="cosine"), popular) is Cosine  # explicit kept
    assert bound(lightgcn(flat), loss(scorer="dot"), flat) is Dot
    if loss is SSM:  # sampled negatives: the evidence is for in-batch ones
        assert SSM(in_batch=False).scorer_for(lightgcn(popular), popular) == "cosine"
    # the derived dot ranks as the model scores: a checkpoint rebuilds it
    objective = Objective(lightgcn(popular), None, loss()).bind(popular)
    assert objective.model.spec()["scorer"] == "dot"


@pytest.mark.parametrize("correction", [False, True])
def test_popdcl_dot_scorer_is_its_cosine_loss_on_unit_embeddings_and_uses_the_norms(correction):
    r"""Eq. 1-9 with :math:`f` the dot product: on unit-norm embeddings the
    dot product is the cosine, so the two scorers give one loss and one
    gradient; off the unit sphere only the dot-scored loss changes when
    the embeddings are rescaled (the cosine is scale-free)."""
    graph = random_graph(30, 40, 0.2, seed=3)
    g = torch.Generator().manual_seed(0)
    users, items = graph.user[:24], graph.item[:24]
    user = torch.randn(24, 8, generator=g)
    pos = torch.randn(24, 8, generator=g)
    losses = {}
    for name in ("cosine", "dot"):
        loss = PopDCL(tau=0.2, negative_correction=correction, scorer=name)
        loss.bind(graph)
        losses[name] = loss
    un = F.normalize(user, dim=-1).requires_grad_()
    pn = F.normalize(pos, dim=-1).requires_grad_()
    un2, pn2 = un.detach().clone().requires_grad_(), pn.detach().clone().requires_grad_()
    a = losses["cosine"](un, pn, users=users, items=items)
    b = losses["dot"](un2, pn2, users=users, items=items)
    torch.testing.assert_close(a, b)
    a.backward()
    b.backward()
    # the cosine's gradient has no radial part; the dot's does, so compare tangential parts
    tangent = lambda x, gr: gr - (gr * x).sum(-1, keepdim=True) * x  # noqa: E731
    torch.testing.assert_close(tangent(un, un.grad), tangent(un2, un2.grad))
    torch.testing.assert_close(tangent(pn, pn.grad), tangent(pn2, pn2.grad))
    cos = losses["cosine"](user, pos, users=users, items=items)
    torch.testing.assert_close(losses["cosine"](3 * user, pos, users=users, items=items), cos)
    dot = losses["dot"](user, pos, users=users, items=items)
    assert not torch.allclose(losses["dot"](3 * user, pos, users=users, items=items), dot)


def test_popdcl_takes_only_the_scorers_its_equations_are_written_for():
    with pytest.raises(ValueError, match="cosine or dot"):
        PopDCL(scorer="modulated")
