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


class SameDraws:
    r"""Routes ``torch.rand`` / ``randint`` / ``multinomial`` through one CPU
    generator, whatever device asks, so a CPU run and a CUDA run of the same
    code see the same random numbers (their own generators differ by
    design): what is then compared is the device's arithmetic."""

    def __init__(self, monkeypatch, seed=0):
        self.gen = torch.Generator().manual_seed(seed)
        rand, randint, multinomial = torch.rand, torch.randint, torch.multinomial

        def on(device, x):
            return x.to(device) if device is not None else x

        def _rand(*args, generator=None, device=None, **kw):
            return on(device, rand(*args, generator=self.gen, **kw))

        def _randint(*args, generator=None, device=None, **kw):
            return on(device, randint(*args, generator=self.gen, **kw))

        def _multinomial(w, *args, generator=None, **kw):
            return multinomial(w.cpu(), *args, generator=self.gen, **kw).to(w.device)

        monkeypatch.setattr(torch, "rand", _rand)
        monkeypatch.setattr(torch, "randint", _randint)
        monkeypatch.setattr(torch, "multinomial", _multinomial)


def _step(dev, loss_name, sampler_name, monkeypatch, restrict=False, loss_opts=None):
    from gnnrec.losses import LOSSES
    from gnnrec.registry import resolve
    from gnnrec.train.objective import Objective
    from tests.nn.test_propagation import _power_law_graph

    g = _power_law_graph(40, 60, 500, seed=4)
    torch.manual_seed(0)
    enc = MODELS["lightgcn"](40, 60, **OPTIONS["lightgcn"])
    loss = resolve(LOSSES, loss_name, what="loss", **(loss_opts or {}))
    sampler = None if sampler_name is None else SAMPLERS[sampler_name]()
    obj = Objective(enc, sampler, loss, restrict=restrict).to(dev).bind(g.to(dev))
    edges = torch.arange(0, g.num_edges, 7)[:64]
    users, items = g.user[edges].to(dev), g.item[edges].to(dev)
    SameDraws(monkeypatch, seed=5)
    value, stats = obj(g.to(dev), users, items, torch.Generator(dev).manual_seed(0))
    value.backward()
    monkeypatch.undo()
    return value.detach().cpu(), {k: v.detach().cpu() for k, v in stats.items()}, \
        enc.embedding.weight.grad.cpu()


def _cases():
    from gnnrec.losses import LOSSES

    yield "ssm", None, {}
    yield "ssm", None, {"scorer": "dot"}
    for name, cls in LOSSES.items():
        if cls.negatives == "in_batch":
            yield name, None, {}
            yield name, None, {"scorer": "dot"}  # the scorer derived on popularity-dominated data
    yield "hdccf", None, {"scorer": "modulated"}
    for sampler in SAMPLERS:
        yield "bpr", sampler, {}
    yield "softbpr", "dns", {}
    yield "ssm", "rns", {"in_batch": False}


@cuda
@pytest.mark.parametrize("loss_name,sampler_name,loss_opts", list(_cases()))
def test_every_loss_and_sampler_on_cuda_matches_cpu(loss_name, sampler_name, loss_opts,
                                                    monkeypatch):
    v0, s0, g0 = _step("cpu", loss_name, sampler_name, monkeypatch, loss_opts=loss_opts)
    v1, s1, g1 = _step("cuda", loss_name, sampler_name, monkeypatch, loss_opts=loss_opts)
    assert torch.isfinite(v0) and g0.abs().sum() > 0
    assert torch.allclose(v1, v0, rtol=1e-4, atol=1e-6)
    for key in s0:
        assert torch.allclose(s1[key], s0[key], rtol=1e-3, atol=1e-5, equal_nan=True), key
    assert torch.allclose(g1, g0, rtol=1e-3, atol=1e-6)


@cuda
@pytest.mark.parametrize("loss_name,sampler_name", [("bpr", "rns"), ("ssm", None),
                                                    ("popdcl", None), ("dcl", None)])
def test_restricted_step_on_cuda_equals_the_full_step(loss_name, sampler_name, monkeypatch):
    v0, _, g0 = _step("cuda", loss_name, sampler_name, monkeypatch, restrict=False)
    v1, _, g1 = _step("cuda", loss_name, sampler_name, monkeypatch, restrict=True)
    assert torch.allclose(v1, v0, rtol=1e-5, atol=1e-6)
    assert torch.allclose(g1, g0, rtol=1e-4, atol=1e-7)


@cuda
def test_row_dots_and_topk_on_cuda_match_cpu():
    from gnnrec.metrics.topk import topk_rows
    from gnnrec.sampling.base import row_dots

    gen = torch.Generator().manual_seed(0)
    query, table = torch.randn(64, 16, generator=gen), torch.randn(500, 16, generator=gen)
    index = torch.randint(0, 500, (64, 8), generator=gen)
    a = row_dots(query, table, index)
    b = row_dots(query.cuda(), table.cuda(), index.cuda())
    assert torch.allclose(a, b.cpu(), rtol=1e-5, atol=1e-5)
    scores = torch.randn(64, 3000, generator=gen)
    va, ia = topk_rows(scores, 20)
    vb, ib = topk_rows(scores.cuda(), 20)
    assert torch.equal(va, vb.cpu())
    assert torch.equal(scores.gather(1, ib.cpu()), vb.cpu())


@cuda
@pytest.mark.parametrize("sampler,loss", [(s, "bpr") for s in SAMPLERS]
                         + [(None, name) for name in ("ssm", "dcl", "hdccf", "popdcl")])
def test_every_method_trains_on_cuda(tmp_path, tiny_dataset_dir, sampler, loss):
    ds = load_dataset(path=tiny_dataset_dir)
    spec = RunSpec(model=Component("lightgcn", {"embedding_dim": 8}),
                   sampler=None if sampler is None else Component(sampler),
                   loss=Component(loss), trainer={"epochs": 3, "batch_size": 64},
                   evaluation={"ks": [5]})
    res = train_run(spec, ds, str(tmp_path / "run"), device="cuda", echo=lambda m: None)
    losses = [json.loads(x)["loss"] for x in open(tmp_path / "run" / "log.jsonl")]
    assert all(v == v and abs(v) < float("inf") for v in losses)
    assert res["test"]["users"] > 0
