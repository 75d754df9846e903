"""The same computations on CUDA as on the CPU (skipped without a GPU)."""
import json

import pytest
import torch

from gnnrec.data import load_dataset
from gnnrec.metrics import FullRankingEvaluator, dot_scores, metric_grid
from gnnrec.nn import MODELS
from gnnrec.sampling import SAMPLERS
from gnnrec.metrics import split_sets
from gnnrec.run import train_run
from gnnrec.spec import Component, RunSpec
from tests.conftest import random_graph

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
OPTIONS = {"mf": {"embedding_dim": 8}, "lightgcn": {"embedding_dim": 8, "num_layers": 2},
           "ngcf": {"embedding_dim": 8, "layer_sizes": [8, 8], "mess_dropout": 0.0}}


@cuda
@pytest.mark.parametrize("model", list(MODELS))
def test_encoders_match_cpu(model):
    g = random_graph(20, 30, 0.2, seed=1)
    torch.manual_seed(0)
    enc = MODELS[model](20, 30, **OPTIONS[model]).eval()
    cpu = enc(g)
    enc.cuda()
    gpu = enc(g.to("cuda"))
    for a, b in zip(cpu, gpu):
        assert torch.allclose(a, b.cpu(), atol=1e-5)
    user, item = enc(g.to("cuda"))
    (user.sum() + item.sum()).backward()
    assert enc.embedding.weight.grad.is_cuda


@cuda
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_samplers_on_cuda_exclude_positives(name):
    g = random_graph(6, 9, 0.85, seed=3).to("cuda")
    enc = MODELS["lightgcn"](6, 9, **OPTIONS["lightgcn"]).cuda()
    sampler = SAMPLERS[name]().bind(g)
    users = torch.arange(6, device="cuda").repeat_interleave(50)
    row, item = g.positives.items_of(users)
    items = item[torch.searchsorted(row, torch.arange(len(users), device="cuda"))]
    neg = sampler(users, items, enc.encode(g), torch.Generator("cuda").manual_seed(0))
    assert neg.emb.is_cuda
    if neg.items is not None:
        assert not g.positives.contains(users.view(-1, *([1] * (neg.items.dim() - 1))),
                                        neg.items).any()


@cuda
def test_evaluator_matches_cpu(tiny_dataset_dir):
    ds = load_dataset(path=tiny_dataset_dir)
    torch.manual_seed(0)
    user, item = torch.randn(ds.num_users, 8), torch.randn(ds.num_items, 8)
    ev = FullRankingEvaluator(metric_grid(["recall", "ndcg", "mrr"], [5, 10]))
    cpu_sets, gpu_sets = split_sets(ds, "cpu"), split_sets(ds, "cuda")
    a = ev.evaluate(dot_scores(user, item), cpu_sets["test"], [cpu_sets["train"]])
    b = ev.evaluate(dot_scores(user.cuda(), item.cuda()), gpu_sets["test"], [gpu_sets["train"]])
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-6)


@cuda
def test_training_run_on_cuda_and_resume(tmp_path, tiny_dataset_dir):
    ds = load_dataset(path=tiny_dataset_dir)

    def spec(epochs):
        return RunSpec(model=Component("lightgcn", {"embedding_dim": 8}),
                       trainer={"epochs": epochs, "batch_size": 64}, evaluation={"ks": [5]})

    res = train_run(spec(3), ds, str(tmp_path / "a"), device="cuda", echo=lambda m: None)
    assert res["test"]["users"] > 0
    train_run(spec(2), ds, str(tmp_path / "b"), device="cuda", echo=lambda m: None)
    train_run(spec(3), ds, str(tmp_path / "b"), device="cuda", resume=True, echo=lambda m: None)
    la = [json.loads(x)["loss"] for x in open(tmp_path / "a" / "log.jsonl")]
    lb = [json.loads(x)["loss"] for x in open(tmp_path / "b" / "log.jsonl")]
    assert la == pytest.approx(lb, rel=1e-5)


@cuda
@pytest.mark.parametrize("name", ["bpr", "softbpr", "ssm", "dcl", "hdccf", "popdcl"])
def test_losses_on_cuda_match_cpu(name):
    from gnnrec.losses import LOSSES
    from gnnrec.sampling import RNS
    from gnnrec.train.objective import Objective

    g = random_graph(12, 20, 0.3, seed=0)
    users = torch.arange(12).repeat(2)
    row, item = g.positives.items_of(users)
    items = item[torch.searchsorted(row, torch.arange(len(users)))]
    values = []
    for dev in ("cpu", "cuda"):
        torch.manual_seed(0)
        enc = MODELS["lightgcn"](12, 20, **OPTIONS["lightgcn"])
        loss = LOSSES[name]()
        sampler = RNS() if loss.negatives == "sampler" else None
        obj = Objective(enc, sampler, loss).to(dev).bind(g.to(dev))
        gen = torch.Generator(dev).manual_seed(0)
        value, _ = obj(g.to(dev), users.to(dev), items.to(dev), gen)
        value.backward()
        assert torch.isfinite(value)
        values.append(float(value.detach()))
    if name in ("popdcl", "ssm"):  # no random draws: identical inputs on both devices
        assert values[0] == pytest.approx(values[1], rel=1e-4)
