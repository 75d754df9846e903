import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from gnnrec.errors import GnnrecError
from gnnrec.nn import MF
from gnnrec.registry import resolve
from gnnrec.sampling import RNS, SAMPLERS
from tests.conftest import random_graph


def test_rns_is_uniform_over_non_positives():
    g = random_graph(2, 10, 0.4, seed=8)
    enc = MF(2, 10, embedding_dim=3)
    out = enc.encode(g)
    sampler = RNS(num_negatives=1).bind(g)
    users = torch.zeros(5000, dtype=torch.long)
    neg = sampler(users, users, out, torch.Generator().manual_seed(0))
    counts = np.bincount(neg.items.numpy(), minlength=10)
    pos = g.positives.contains(torch.zeros(10, dtype=torch.long), torch.arange(10)).numpy()
    assert counts[pos].sum() == 0
    assert chisquare(counts[~pos]).pvalue > 1e-3
    # the embedding is the pooled embedding of the picked item
    assert torch.equal(neg.emb, out.item[neg.items])


def test_rns_bad_option():
    with pytest.raises(GnnrecError, match="num_negatives must be >= 1"):
        resolve(SAMPLERS, "rns", what="sampler", num_negatives=0)
