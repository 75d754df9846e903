"""Each sampler's own identity: DNS argmax, AHNS argmin and Theorem 1,
PDNS = DNS + soft BPR (Eq. 7-9), MixGCF against a per-example reference,
PNS's distribution."""
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from gnnrec.data.graph import RecGraph
from gnnrec.losses import BPR, SoftBPR
from gnnrec.nn import MF, LightGCN, NGCF
from gnnrec.sampling import AHNS, DNS, PDNS, PNS, MixGCF
from gnnrec.train.objective import Objective
from tests.conftest import random_graph


def batch(g):
    users = torch.arange(g.num_users).repeat_interleave(20)
    row, item = g.positives.items_of(users)
    first = torch.searchsorted(row, torch.arange(len(users)))
    return users, item[first]


def test_dns_returns_the_argmax_of_its_candidates():
    g = random_graph(8, 40, 0.2, seed=1)
    enc = LightGCN(8, 40, embedding_dim=6, num_layers=2)
    out = enc.encode(g)
    users, pos = batch(g)
    s = DNS(num_candidates=7).bind(g)
    neg = s(users, pos, out, torch.Generator().manual_seed(3))
    cand = s.candidates(users, 7, torch.Generator().manual_seed(3))[:, 0]  # the same draw
    scores = (out.user[users].unsqueeze(1) * out.item[cand]).sum(-1)
    want = cand.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)
    assert torch.equal(neg.items, want)
    assert torch.equal(neg.emb, out.item[want])


def test_dns_top_n_picks_among_the_n_best():
    g = random_graph(8, 40, 0.2, seed=1)
    out = MF(8, 40, embedding_dim=6).encode(g)
    users, pos = batch(g)
    s = DNS(num_candidates=10, top=3).bind(g)
    neg = s(users, pos, out, torch.Generator().manual_seed(4))
    cand = s.candidates(users, 10, torch.Generator().manual_seed(4))[:, 0]
    scores = (out.user[users].unsqueeze(1) * out.item[cand]).sum(-1)
    best = cand.gather(1, scores.topk(3, dim=1).indices)
    assert (best == neg.items.unsqueeze(1)).any(1).all()


def test_ahns_returns_the_argmin_of_its_rating():
    g = random_graph(8, 40, 0.2, seed=2)
    out = LightGCN(8, 40, embedding_dim=6, num_layers=1).encode(g)
    users, pos = batch(g)
    s = AHNS(p=-2, alpha=1.0, beta=0.3, num_candidates=9).bind(g)
    neg = s(users, pos, out, torch.Generator().manual_seed(5))
    cand = s.candidates(users, 9, torch.Generator().manual_seed(5))[:, 0]
    u = out.user[users]
    r = ((u.unsqueeze(1) * out.item[cand]).sum(-1)
         - 0.3 * ((u * out.item[pos]).sum(-1, keepdim=True) + 1.0) ** (-1)).abs()
    assert torch.equal(neg.items, cand.gather(1, r.argmin(1, keepdim=True)).squeeze(1))


def hand_made(pos_score, n_grid=400):
    """One user e_u = (1, 0); item 0 (the positive) scores pos_score; items
    1..n_grid score on a grid of [-1, 3]; only item 0 is a positive."""
    g = RecGraph(torch.tensor([0]), torch.tensor([0]), 1, n_grid + 1)
    enc = MF(1, n_grid + 1, embedding_dim=2)
    with torch.no_grad():
        w = torch.zeros(n_grid + 2, 2)
        w[0] = torch.tensor([1.0, 0.0])
        w[1, 0] = pos_score
        w[2:, 0] = torch.linspace(-1, 3, n_grid)
        enc.embedding.weight.copy_(w)
    return g, enc


@pytest.mark.parametrize("p", [-1.0, -2.0])
def test_ahns_hardness_falls_as_the_positive_score_rises(p):
    # Theorem 1: hardness of the ideal negative, beta * (s+ + alpha)^p, decreases in s+.
    alpha, beta = 1.0, 0.5
    got = []
    for s_pos in (0.5, 1.0, 2.0, 4.0):
        g, enc = hand_made(s_pos)
        out = enc.encode(g)
        users = torch.zeros(200, dtype=torch.long)
        sampler = AHNS(p=p, alpha=alpha, beta=beta, num_candidates=64).bind(g)
        neg = sampler(users, torch.zeros(200, dtype=torch.long), out,
                      torch.Generator().manual_seed(0))
        h = float(neg.hardness.mean())
        got.append(h)
        ideal = beta * (s_pos + alpha) ** (p + 1) / s_pos  # Eq. 4 over the positive's score
        assert h == pytest.approx(ideal, abs=0.02)
    assert all(a > b for a, b in zip(got, got[1:])), got


def test_ahns_never_nan_when_the_base_is_not_positive():
    g, enc = hand_made(-3.0)  # s+ + alpha = -2 < 0
    out = enc.encode(g)
    users = torch.zeros(50, dtype=torch.long)
    for p in (-0.5, -1.0, -2.0, -40.0):
        s = AHNS(p=p, alpha=1.0, beta=0.1, num_candidates=16).bind(g)
        neg = s(users, users, out, torch.Generator().manual_seed(1))
        assert torch.isfinite(neg.emb).all()
        r = s.ratings(torch.tensor([[0.0, 1.0]]), torch.tensor([-3.0]))
        assert torch.isfinite(r).all()
    # p < -1: the clamped base makes the ideal score huge, so the best candidate wins (DNS)
    s = AHNS(p=-2.0, alpha=1.0, beta=0.1, num_candidates=16).bind(g)
    neg = s(users, users, out, torch.Generator().manual_seed(1))
    cand = s.candidates(users, 16, torch.Generator().manual_seed(1))[:, 0]
    scores = out.item[cand][..., 0]
    assert torch.equal(neg.items, cand.gather(1, scores.argmax(1, keepdim=True)).squeeze(1))


@pytest.mark.parametrize("model", ["mf", "lightgcn"])
@pytest.mark.parametrize("mix", [0.9, 0.5])
def test_pdns_mixing_equals_dns_with_soft_bpr(model, mix):
    # PDNS Eq. 7-9: BPR on a*e_i + (1-a)*e_j == soft BPR with beta = 1 - a on DNS picks
    g = random_graph(10, 30, 0.25, seed=4)
    users, pos = batch(g)
    encs = []
    for _ in range(2):
        torch.manual_seed(0)
        encs.append(MF(10, 30, embedding_dim=5) if model == "mf"
                    else LightGCN(10, 30, embedding_dim=5, num_layers=2))
    mixed = Objective(encs[0], PDNS(mix=mix, num_candidates=6), BPR()).bind(g)
    soft = Objective(encs[1], DNS(num_candidates=6), SoftBPR(beta=1 - mix)).bind(g)
    la, _ = mixed(g, users, pos, torch.Generator().manual_seed(9))
    lb, _ = soft(g, users, pos, torch.Generator().manual_seed(9))
    la.backward()
    lb.backward()
    assert float(la) == pytest.approx(float(lb), rel=1e-6)
    ga, gb = encs[0].embedding.weight.grad, encs[1].embedding.weight.grad
    assert torch.allclose(ga, gb, atol=1e-7, rtol=1e-5)
    assert ga.abs().sum() > 0


def small_complement_graph():
    """User 0 has every item but 8..11; users 1, 2 a few items. With 64
    candidates, all four non-positives of user 0 are drawn (but for a chance
    of 4 * (3/4)^64)."""
    u = [0] * 8 + [1, 1, 2, 2]
    i = list(range(8)) + [8, 9, 10, 11]
    return RecGraph(torch.tensor(u), torch.tensor(i), 3, 12)


def solve_mix(out, pool, emb, pos, best):
    """Least-squares a_l with emb = pool(a_l p_l + (1 - a_l) n_l): the
    synthetic negative's coefficients, given the picks ``best`` per layer;
    returns (a, residual)."""
    L1 = len(out.layers)
    U = out.num_users
    p = torch.stack([out.layers[layer][U + pos] for layer in range(L1)])  # (L+1, D)
    n = torch.stack([out.layers[layer][U + int(best[layer])] for layer in range(L1)])
    cols = []
    for layer in range(L1):
        diff = torch.zeros_like(p)
        diff[layer] = p[layer] - n[layer]
        cols.append(pool(diff))
    A = torch.stack(cols, 1).double()
    rhs = (emb - pool(n)).double()
    a = torch.linalg.lstsq(A, rhs.unsqueeze(1)).solution.squeeze(1)
    return a, float((A @ a - rhs).abs().max())


@pytest.mark.parametrize("model", ["lightgcn", "ngcf", "mf"])
def test_mixgcf_picks_the_best_unmixed_candidate_at_every_layer(model):
    # MixGCF draws one a^(l) per example and layer, shared by its candidates,
    # so each layer's pick is the candidate with the highest *unmixed* score
    # q . e_m^(l); a coefficient per candidate breaks this
    g = small_complement_graph()
    torch.manual_seed(1)
    enc = {"lightgcn": LightGCN(3, 12, embedding_dim=8, num_layers=2),
           "ngcf": NGCF(3, 12, embedding_dim=8, layer_sizes=[8, 8], mess_dropout=0.0),
           "mf": MF(3, 12, embedding_dim=8)}[model].eval()
    with torch.no_grad():  # positives score well: a per-candidate a would then chase large a
        enc.embedding.weight[3:11] += 2 * enc.embedding.weight[0]
    out = enc.encode(g)
    users = torch.zeros(40, dtype=torch.long)
    pos = torch.arange(40) % 8
    neg = MixGCF(num_candidates=64).bind(g)(users, pos, out, torch.Generator().manual_seed(2))
    L1 = len(out.layers)
    layerwise = model == "ngcf"
    complement = torch.arange(8, 12)
    best = []
    for layer in range(L1):
        q = out.layers[layer][0] if layerwise else out.pooled[0]
        best.append(complement[(out.layers[layer][3 + complement] @ q).argmax()])
    for b in range(len(users)):
        a, residual = solve_mix(out, enc.pool, neg.emb[b].detach(), int(pos[b]), best)
        assert residual < 1e-4 and bool(((a >= -1e-4) & (a <= 1 + 1e-4)).all()), (b, a)
        want_ego = a[0] * out.layers[0][3 + pos[b]] + (1 - a[0]) * out.layers[0][3 + best[0]]
        assert torch.allclose(neg.ego[b].detach().double(), want_ego.double(), atol=1e-5)
    # on this data a per-candidate coefficient does pick other candidates (the test can tell)
    gen = torch.Generator().manual_seed(3)
    s_pos = out.pooled[0] @ out.pooled[3 + pos[0]]
    s_n = out.pooled[3 + complement] @ out.pooled[0]
    a_m = torch.rand(1000, 4, generator=gen)
    wrong = (a_m * s_pos + (1 - a_m) * s_n).argmax(1)
    assert (complement[wrong] != best[0]).any()


def test_pns_is_proportional_to_degree_power_over_non_positives():
    g = random_graph(3, 12, 0.5, seed=7)
    deg = g.item_degree.double()
    for rounds in (8, 0):  # vectorised redraws, and the exact fallback alone
        s = PNS(power=0.75, max_rounds=rounds).bind(g)
        for u in range(3):
            users = torch.full((6000,), u)
            items = s.draw(users, 1, torch.Generator().manual_seed(u)).flatten()
            mask = g.positives.contains(torch.full((12,), u), torch.arange(12)).numpy()
            counts = np.bincount(items.numpy(), minlength=12)
            assert counts[mask].sum() == 0
            w = deg.pow(0.75).numpy()
            free = ~mask & (w > 0)
            expected = w[free] / w[free].sum() * counts.sum()
            assert chisquare(counts[free], expected).pvalue > 1e-3


def test_pns_user_with_only_zero_weight_non_positives_falls_back_to_uniform():
    # item 2 and 3 never appear in training (degree 0); user 0 has items 0 and 1
    g = RecGraph(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), 2, 4)
    s = PNS(power=1.0).bind(g)
    items = s.draw(torch.zeros(4000, dtype=torch.long), 1, torch.Generator().manual_seed(0))
    counts = np.bincount(items.flatten().numpy(), minlength=4)
    assert counts[:2].sum() == 0 and chisquare(counts[2:]).pvalue > 1e-3
