import math

import pytest
import torch

from gnnrec.losses import BPR


def test_bpr_equals_per_example_reference():
    torch.manual_seed(0)
    u, p, n = torch.randn(9, 4), torch.randn(9, 4), torch.randn(9, 3, 4)
    got = BPR()(u, p, n)
    ref = []
    for b in range(9):
        for k in range(3):
            x = float(u[b] @ p[b] - u[b] @ n[b, k])
            ref.append(-math.log(1 / (1 + math.exp(-x))))
    assert float(got) == pytest.approx(sum(ref) / len(ref), rel=1e-5)


def test_bpr_gradient_is_one_minus_sigmoid():
    u = torch.tensor([[1.0, 0.0]], requires_grad=True)
    p = torch.tensor([[2.0, 1.0]])
    n = torch.tensor([[0.5, 3.0]])
    BPR()(u, p, n).backward()
    x = 2.0 - 0.5
    want = -(1 - 1 / (1 + math.exp(-x))) * (p - n)
    assert torch.allclose(u.grad, want)


def test_soft_bpr_equals_per_example_reference_and_beta_one_is_bpr():
    from gnnrec.losses import SoftBPR

    torch.manual_seed(1)
    u, p, n = torch.randn(7, 3), torch.randn(7, 3), torch.randn(7, 3)
    got = SoftBPR(beta=0.2)(u, p, n)
    ref = sum(-math.log(1 / (1 + math.exp(-0.2 * float(u[b] @ p[b] - u[b] @ n[b]))))
              for b in range(7)) / 7
    assert float(got) == pytest.approx(ref, rel=1e-5)
    assert float(SoftBPR(beta=1.0)(u, p, n)) == pytest.approx(float(BPR()(u, p, n)))
