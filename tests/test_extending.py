"""A new loss, sampler or data format is one new class plus its registry
line: nothing in the CLI, the spec, the trainer or the checkpoint code
changes."""
import json
import os

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import gnnrec
from gnnrec.cli import cli
from gnnrec.losses import LOSSES
from gnnrec.losses.base import RecLoss, pair_scores
from gnnrec.sampling import SAMPLERS
from gnnrec.sampling.base import NegativeSampler
from gnnrec.spec import RunSpec
from tests.test_cli import FAST, make_data


class Hinge(RecLoss):
    r"""A test-only loss: :math:`\max(0, m - (y_{ui} - y_{uj}))`.

    Args:
        margin (float, optional): :math:`m`. (default: :obj:`1.0`)
        scorer (str, optional): ``dot``, ``cosine`` or ``modulated``.
            (default: :obj:`"dot"`)
    """

    def __init__(self, margin: float = 1.0, scorer: str = "dot"):
        super().__init__(scorer)
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = margin

    def forward(self, user, pos, neg=None, **context):
        s_pos, s_neg = pair_scores(user, pos, neg, self.scorer)
        return F.relu(self.margin - (s_pos - s_neg)).mean()


class InBatchHinge(Hinge):
    """A test-only in-batch loss: the next row's item is the negative."""
    negatives = "in_batch"

    def forward(self, user, pos, neg=None, **context):
        return super().forward(user, pos, pos.roll(1, 0))


class Popular(NegativeSampler):
    r"""A test-only sampler: the most popular item the user has not seen.

    Args:
        num_negatives (int, optional): negatives per positive. (default: :obj:`1`)
    """

    def __init__(self, num_negatives: int = 1):
        super().__init__(num_negatives)

    def sample(self, users, pos_items, out, generator=None):
        cand = self.candidates(users, 8, generator)
        pick = self.graph.item_degree[cand].argmax(-1, keepdim=True)
        return self.pack(cand.gather(-1, pick).squeeze(-1), out, users, pos_items)


@pytest.fixture
def registered(monkeypatch):
    # the "registry line" of each new component, and nothing else
    monkeypatch.setitem(LOSSES, "hinge", Hinge)
    monkeypatch.setitem(LOSSES, "inbatchhinge", InBatchHinge)
    monkeypatch.setitem(SAMPLERS, "popular", Popular)


def test_new_components_train_resume_and_reload(registered, tmp_path):
    data = make_data(str(tmp_path / "d"))[0]
    out = str(tmp_path / "run")
    r = CliRunner().invoke(cli, ["train", "--dataset", data, "--out", out, "--loss", "hinge",
                                 "--loss-opt", "margin=0.5", "--sampler", "popular", *FAST])
    assert r.exit_code == 0, r.output
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["loss"] == {"name": "hinge", "options": {"margin": 0.5, "scorer": "dot"}}
    assert config["sampler"]["name"] == "popular"
    r = CliRunner().invoke(cli, ["train", "--out", out, "--resume", "--epochs", "3",
                                 "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    model = gnnrec.load(os.path.join(out, "best.pt"))
    assert model.score_all(torch.arange(2)).shape == (2, model.num_items)


def test_new_components_appear_in_help_errors_and_grid(registered, tmp_path):
    runner = CliRunner()
    listing = runner.invoke(cli, ["train", "--list-options"]).output
    assert "hinge: A test-only loss" in listing and "margin=1.0" in listing
    assert "popular: A test-only sampler" in listing
    helptext = runner.invoke(cli, ["train", "--help"]).output
    assert "inbatchhinge" in helptext.replace("\n", " ").replace(" ", "")
    r = runner.invoke(cli, ["train", "--loss", "hinge", "--loss-opt", "margin=-1",
                            "--dataset", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "--loss-opt margin must be > 0" in r.output
    r = runner.invoke(cli, ["train", "--loss", "inbatchhinge", "--sampler", "rns",
                            "--dataset", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "takes no sampler" in r.output and "hinge" in r.output
    specs = RunSpec.grid(["mf"], ["rns", "popular"], ["hinge", "inbatchhinge"])
    assert [(s.sampler and s.sampler.name, s.loss.name) for s in specs] == [
        ("rns", "hinge"), ("popular", "hinge"), (None, "inbatchhinge")]


def test_new_components_bench(registered, tmp_path):
    data = make_data(str(tmp_path / "d"))[0]
    r = CliRunner().invoke(cli, ["bench", "--dataset", data, "--models", "mf", "--samplers",
                                 "rns,popular", "--losses", "hinge,inbatchhinge", "--epochs", "2",
                                 "--batch-size", "64", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output[r.output.index("{\n"):])["results"]
    assert {(x["sampler"], x["loss"]) for x in res} == {
        ("rns", "hinge"), ("popular", "hinge"), ("in-batch", "inbatchhinge")}


def test_a_new_reader_is_one_class_and_one_registry_line(tmp_path, monkeypatch):
    import numpy as np

    from gnnrec.data.formats import READERS, Reader

    class Events(Reader):
        r"""A test-only format: one JSON object a line, ``{"who": .., "what": ..}``.

        Args:
            who (str, optional): the user key. (default: :obj:`"who"`)
        """
        name = "events"
        summary = "JSON objects, one a line"

        def __init__(self, who: str = "who"):
            self.who = who

        @classmethod
        def recognise(cls, path, head):
            return 99 if head.startswith("{") else 0

        def read(self, path, progress):
            rows = [json.loads(line) for line in open(path) if line.strip()]
            return {"user": np.array([str(r[self.who]) for r in rows]),
                    "item": np.array([str(r["what"]) for r in rows])}

        def describe(self):
            return f"users under {self.who!r}"

    monkeypatch.setitem(READERS, "events", Events)  # the one registry line
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps({"by": f"u{u}", "what": f"i{(u * 7 + k) % 30}"}) + "\n"
                            for u in range(12) for k in range(5)))
    runner = CliRunner()
    out = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", str(path), "--data-opt", "who=by", "--out", out,
                            *FAST])
    assert r.exit_code == 0, r.output
    assert "events (detected): users under 'by'" in r.output
    ds = gnnrec.data.load_dataset(gnnrec.data.DataSpec(path=str(path), format="events",
                                                       options={"who": "by"}))
    assert ds.num_users == 12
    r = runner.invoke(cli, ["data", "--dataset", str(path), "--data-opt", "whom=by"])
    assert r.exit_code == 2 and "whom" in r.output and "--data-opt" in r.output
