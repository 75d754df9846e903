import json
import os

import pytest
import torch

from gnnrec.data import load_dataset
from gnnrec.errors import GnnrecError
from gnnrec.run import train_run
from gnnrec.spec import Component, RunSpec
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import TrainingStopped


def spec_for(epochs=6):
    return RunSpec(model=Component("lightgcn", {"embedding_dim": 8, "num_layers": 2}),
                   sampler=Component("rns"), loss=Component("bpr"),
                   trainer={"epochs": epochs, "batch_size": 64, "seed": 3},
                   evaluation={"ks": [5], "patience": 0})


def losses(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(ln)["loss"] for ln in f if ln.strip()]


def run(ds, run_dir, epochs=6, **kwargs):
    return train_run(spec_for(epochs), ds, run_dir, device="cpu", echo=lambda m: None, **kwargs)


def test_resume_reproduces_the_uninterrupted_run(tmp_path, tiny_dataset_dir):
    ds = load_dataset(path=tiny_dataset_dir)
    run(ds, str(tmp_path / "full"))
    run(ds, str(tmp_path / "part"), epochs=3)
    run(ds, str(tmp_path / "part"), epochs=6, resume=True)
    assert losses(tmp_path / "part") == losses(tmp_path / "full")
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["state"]
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)["state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupt_mid_epoch_leaves_a_resumable_run(tmp_path, tiny_dataset_dir, monkeypatch):
    ds = load_dataset(path=tiny_dataset_dir)
    run(ds, str(tmp_path / "full"))
    calls = {"n": 0}
    original = Objective.forward

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 13:  # inside epoch 3 (5 steps an epoch)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Objective, "forward", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(ds, str(tmp_path / "cut"))
    monkeypatch.setattr(Objective, "forward", original)
    last = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert last["trainer"]["epoch"] == 2
    run(ds, str(tmp_path / "cut"), resume=True)
    assert losses(tmp_path / "cut") == losses(tmp_path / "full")


def test_interrupt_in_first_epoch_is_resumable(tmp_path, tiny_dataset_dir, monkeypatch):
    ds = load_dataset(path=tiny_dataset_dir)
    original = Objective.forward
    monkeypatch.setattr(Objective, "forward",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(ds, str(tmp_path / "cut"))
    monkeypatch.setattr(Objective, "forward", original)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["trainer"]["epoch"] == 0
    run(ds, str(tmp_path / "cut"), epochs=2, resume=True)
    run(ds, str(tmp_path / "ref"), epochs=2)
    assert losses(tmp_path / "cut") == losses(tmp_path / "ref")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny_dataset_dir, monkeypatch):
    ds = load_dataset(path=tiny_dataset_dir)
    calls = {"n": 0}
    original = Objective.forward

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        loss, stats = original(self, *args, **kwargs)
        return (loss * float("nan") if calls["n"] > 10 else loss), stats

    monkeypatch.setattr(Objective, "forward", poisoned)
    with pytest.raises(TrainingStopped, match="loss became nan at epoch 3"):
        run(ds, str(tmp_path / "r"))
    ckpt = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert ckpt["trainer"]["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state"].values())


def test_existing_run_is_not_overwritten(tmp_path, tiny_dataset_dir):
    ds = load_dataset(path=tiny_dataset_dir)
    run(ds, str(tmp_path / "r"), epochs=1)
    before = (tmp_path / "r" / "last.pt").read_bytes()
    with pytest.raises(GnnrecError, match="already holds a run"):
        run(ds, str(tmp_path / "r"), epochs=1)
    assert (tmp_path / "r" / "last.pt").read_bytes() == before


def test_resume_refuses_other_data(tmp_path, tiny_dataset_dir):
    from tests.conftest import tiny_lightgcn_dataset

    ds = load_dataset(path=tiny_dataset_dir)
    run(ds, str(tmp_path / "r"), epochs=1)
    other = load_dataset(path=tiny_lightgcn_dataset(str(tmp_path / "o"), seed=5))
    with pytest.raises(GnnrecError, match="other data"):
        run(other, str(tmp_path / "r"), resume=True)
