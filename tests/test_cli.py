import json
import os

import numpy as np
import torch
import pytest
from click.testing import CliRunner

from gnnrec.cli import cli
from tests.conftest import write_lightgcn_files

FAST = ["--epochs", "2", "--dim", "8", "--layers", "1", "--batch-size", "64", "--ks", "5,10",
        "--device", "cpu", "--no-progress"]


@pytest.fixture
def runner():
    return CliRunner()


def make_data(folder):
    rng = np.random.default_rng(0)
    train = {100 + u: (rng.choice(40, 8, replace=False) * 3).tolist() for u in range(30)}
    test = {u: [items[0] + 1] for u, items in train.items()}
    return write_lightgcn_files(folder, train, test), train, test


@pytest.fixture
def data_dir(tmp_path):
    return make_data(str(tmp_path / "d"))[0]


def one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    return lines[-1]


def test_train_evaluate_recommend_export_data(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST])
    assert r.exit_code == 0, r.output
    assert "recall@10" in r.output and "MostPop" in r.output
    assert "validation carved out of train" in r.output
    for name in ("config.json", "last.pt", "best.pt", "log.jsonl", "results.json"):
        assert os.path.exists(os.path.join(out, name))

    r = runner.invoke(cli, ["evaluate", os.path.join(out, "best.pt"), "--json", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output[r.output.index("{"):])
    assert 0 <= got["model"]["recall@10"] <= 1  # the run's own cut-offs (FAST: 5, 10)
    assert "recall@20" not in got["model"]
    r = runner.invoke(cli, ["evaluate", os.path.join(out, "best.pt"), "--json", "--device", "cpu",
                            "--ks", "20"])
    assert "recall@20" in json.loads(r.output[r.output.index("{"):])["model"]

    r = runner.invoke(cli, ["recommend", os.path.join(out, "best.pt"), "--user", "103",
                            "--user", "107", "-k", "3", "--format", "json", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    recs = json.loads(r.output[r.output.index("["):])
    assert [x["user"] for x in recs] == [103, 107]  # the data's id type
    _, train, test = make_data(str(tmp_path / "again"))
    known = {i for items in list(train.values()) + list(test.values()) for i in items}
    for x in recs:
        assert len(x["items"]) == 3 and set(x["items"]) <= known
        assert set(x["items"]).isdisjoint(train[x["user"]])

    r = runner.invoke(cli, ["export", os.path.join(out, "best.pt"), str(tmp_path / "emb.npy"),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "emb.users.npy").shape == (30, 8)

    r = runner.invoke(cli, ["data", "--dataset", data_dir, "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["users"] == 30 and stats["test_interactions"] == 30


def test_unknown_model_fails_before_reading_data(runner, tmp_path):
    r = runner.invoke(cli, ["train", "--model", "gcn", "--dataset", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "gcn" in r.output


@pytest.mark.parametrize("args,needle", [
    (["--sampler-opt", "num_negatives=0"], "num_negatives must be >= 1"),
    (["--sampler-opt", "bogus=1"], "unknown option of RNS"),
    (["--model-opt", "num_layers=x"], "expected int"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--ks", "0"], "cut-offs must be >= 1"),
    (["--metric", "auc@5"], "bad metric"),
])
def test_bad_options_fail_before_reading_data(runner, tmp_path, args, needle):
    r = runner.invoke(cli, ["train", "--dataset", str(tmp_path / "nope"), *args])
    assert needle in one_line_error(r)


def test_malformed_file_is_one_line_exit_2(runner, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "train.txt").write_text("0 1 2\n1 3 four\n")
    r = runner.invoke(cli, ["train", "--dataset", str(d), "--out", str(tmp_path / "r")])
    line = one_line_error(r)
    assert "train.txt:2:" in line and "'four'" in line
    assert not os.path.exists(tmp_path / "r")


def test_existing_run_needs_resume_or_overwrite(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    before = open(os.path.join(out, "last.pt"), "rb").read()
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST])
    assert "already holds a run" in one_line_error(r)
    assert open(os.path.join(out, "last.pt"), "rb").read() == before
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, "--resume",
                            "--epochs", "3", "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output


def test_checkpoint_from_other_dataset(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    other = write_lightgcn_files(str(tmp_path / "o"), {0: [1, 2, 3], 1: [2, 3]}, {0: [4], 1: [1]})
    r = runner.invoke(cli, ["evaluate", os.path.join(out, "best.pt"), "--dataset", other,
                            "--device", "cpu"])
    assert "trained on other data" in one_line_error(r)


def test_recommend_unknown_user(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    r = runner.invoke(cli, ["recommend", os.path.join(out, "best.pt"), "--user", "5"])
    assert "unknown user 5" in one_line_error(r)


def test_ctrl_c_exits_130_with_resume_hint(runner, data_dir, tmp_path, monkeypatch):
    from gnnrec.train import trainer

    def interrupted(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "train_epoch", interrupted)
    out = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST])
    assert r.exit_code == 130
    assert "--resume" in r.output
    assert os.path.exists(os.path.join(out, "last.pt"))


def test_help_lists_options(runner):
    r = runner.invoke(cli, ["train", "--help"])
    words = " ".join(r.output.split())  # however the terminal's width wrapped it
    assert r.exit_code == 0 and "--sampler-opt" in words and "[default: 2048]" in words
    r = runner.invoke(cli, ["train", "--list-options"])
    assert "num_negatives=1" in r.output and "lightgcn:" in r.output


@pytest.mark.parametrize("args", [
    ["--sampler", "dns", "--sampler-opt", "num_candidates=4"],
    ["--sampler", "mixgcf", "--sampler-opt", "num_candidates=3"],
    ["--sampler", "ahns", "--sampler-opt", "p=-1", "--sampler-opt", "beta=0.5"],
    ["--sampler", "pdns", "--loss", "bpr"],
    ["--sampler", "dns", "--loss", "softbpr", "--loss-opt", "beta=0.2"],
    ["--loss", "ssm", "--loss-opt", "tau=0.2"],
    ["--loss", "hdccf", "--loss-opt", "num_neighbors=2"],
    ["--loss", "popdcl"],
    ["--loss", "dcl"],
])
def test_train_with_samplers_and_losses(runner, data_dir, tmp_path, args):
    out = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST, *args])
    assert r.exit_code == 0, r.output
    logs = [json.loads(x) for x in open(os.path.join(out, "log.jsonl"))]
    assert len(logs) == 2 and all(np.isfinite(x["loss"]) for x in logs)
    if "--sampler" in args:
        assert all("hardness" in x for x in logs)


def test_in_batch_loss_with_a_sampler_lists_what_combines(runner, tmp_path):
    r = runner.invoke(cli, ["train", "--loss", "popdcl", "--sampler", "dns",
                            "--dataset", str(tmp_path / "nope")])
    line = one_line_error(r)
    assert "takes no sampler" in line and "samplers combine with: bpr, softbpr" in line


@pytest.mark.parametrize("args,needle", [
    (["--sampler", "dns", "--sampler-opt", "num_candidates=0"], "num_candidates must be >= 1"),
    (["--sampler", "pdns", "--sampler-opt", "mix=1.2"], "mix must be in [0.0, 1.0], got 1.2"),
    (["--sampler", "ahns", "--sampler-opt", "p=1"], "p must be < 0, got 1.0"),
    (["--sampler", "ahns", "--sampler-opt", "gamma=1"], "unknown option of AHNS (accepted: p,"),
    (["--loss", "hdccf", "--loss-opt", "omega_user=1"], "omega_user must be in [0, 1)"),
    (["--loss", "popdcl", "--sampler-opt", "x=1"], "uses in-batch negatives"),
])
def test_sampler_and_loss_option_errors(runner, tmp_path, args, needle):
    r = runner.invoke(cli, ["train", "--dataset", str(tmp_path / "nope"), *args])
    assert needle in one_line_error(r)


def test_help_sampler(runner):
    r = runner.invoke(cli, ["train", "--sampler", "ahns", "--help-sampler"])
    assert r.exit_code == 0 and "p=-2.0" in r.output and "max_candidates=32" in r.output


def test_bench_times_every_combination(runner, data_dir):
    r = runner.invoke(cli, ["bench", "--dataset", data_dir, "--models", "mf,lightgcn",
                            "--samplers", "rns,dns", "--losses", "bpr,popdcl", "--epochs", "2",
                            "--batch-size", "64", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output[r.output.index("{\n"):])["results"]
    combos = {(x["model"], x["sampler"], x["loss"]) for x in res}
    assert ("lightgcn", "dns", "bpr") in combos and ("mf", "in-batch", "popdcl") in combos
    assert len(res) == 6
    assert all(x["ratio"] > 0 and len(x["all_seconds"]) == 2 for x in res)
    first = next(x for x in res if x["model"] == "mf" and x["loss"] == "bpr")
    assert first["sampler"] == "rns" and first["ratio"] == 1.0


def test_bench_times_several_batch_sizes_round_robin(runner, data_dir):
    # every combination at each size: a larger batch takes fewer steps an epoch, and the
    # table names the size of each row
    r = runner.invoke(cli, ["bench", "--dataset", data_dir, "--samplers", "rns,dns",
                            "--epochs", "2", "--batch-size", "64,256", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    head = next(line for line in r.output.splitlines() if line.startswith("model "))
    assert head.split()[:5] == ["model", "sampler", "loss", "batch", "s/epoch"]
    r = runner.invoke(cli, ["bench", "--dataset", data_dir, "--epochs", "2",
                            "--batch-size", "64,256", "--device", "cpu", "--json"])
    res = json.loads(r.output[r.output.index("{\n"):])["results"]
    assert [x["batch_size"] for x in res] == [64, 256]
    assert res[0]["batches"] > res[1]["batches"] and res[0]["ratio"] == 1.0
    r = runner.invoke(cli, ["bench", "--dataset", data_dir, "--batch-size", "64,x"])
    assert "--batch-size must be positive integers" in one_line_error(r)


def test_bench_rejects_bad_names(runner):
    r = runner.invoke(cli, ["bench", "--samplers", "rns,foo"])
    assert "unknown sampler 'foo'" in one_line_error(r)


def test_popularity_balanced_split_groups_and_evaluate(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--split", "popbalanced",
                            "--test-frac", "0.15", "--out", out, *FAST])
    assert r.exit_code == 0, r.output
    assert "test_balanced (" in r.output and "head" in r.output and "tail" in r.output
    results = json.load(open(os.path.join(out, "results.json")))
    assert set(results["test_balanced_groups"]) == {"head", "mid", "tail"}
    r = runner.invoke(cli, ["evaluate", os.path.join(out, "best.pt"), "--on", "test_balanced",
                            "--groups", "--json", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["split"] == "test_balanced" and "mid" in got["groups"]


@pytest.mark.parametrize("given", [None, "cosine"])
def test_checkpoint_ranks_with_the_loss_scorer(runner, data_dir, tmp_path, given):
    import gnnrec
    from gnnrec.nn import Cosine, Dot

    out = str(tmp_path / "run")
    opt = ["--loss-opt", f"scorer={given}"] if given else []
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--loss", "hdccf", "--out", out,
                            *opt, *FAST])
    assert r.exit_code == 0, r.output
    model = gnnrec.load(os.path.join(out, "best.pt"))
    u, i = model.embeddings()
    scores = model.score_all(torch.arange(3))
    if given is None:  # derived: this small dense set is popularity-dominated, LightGCN's
        # norms carry degree; the run says so and the checkpoint ranks by the dot product
        assert "hdccf: scorer dot, not cosine" in r.output
        assert "hdccf: scorer dot, not cosine" in runner.invoke(cli, ["show", out]).output
        assert isinstance(model.scorer, Dot)
        assert torch.allclose(scores, u[:3] @ i.t(), atol=1e-5)
        return
    assert isinstance(model.scorer, Cosine)
    want = torch.nn.functional.normalize(u[:3], dim=1) @ torch.nn.functional.normalize(i, dim=1).t()
    assert torch.allclose(scores, want, atol=1e-6)


def test_show_describes_a_run_and_tables_several(runner, data_dir, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", a, *FAST]).exit_code == 0
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", b, "--sampler", "dns",
                            *FAST])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["show", a])
    assert r.exit_code == 0, r.output
    for needle in ("model        lightgcn(embedding_dim=8, num_layers=1", "sampler      rns",
                   "finished: 2 of 2 epochs", "validation   recall@5", "test         recall@5",
                   "MostPop"):
        assert needle in r.output
    r = runner.invoke(cli, ["show", a, b, "--json"])
    got = json.loads(r.stdout)
    assert [x["sampler"] for x in got] == ["rns", "dns"]
    assert got[0]["test"]["recall@5"] == json.load(open(os.path.join(a, "results.json")))[
        "test"]["recall@5"]
    r = runner.invoke(cli, ["show", a, b])
    assert r.output.splitlines()[0].split()[:4] == ["run", "model", "sampler", "loss"]
    assert "not a run folder" in one_line_error(runner.invoke(cli, ["show", str(tmp_path)]))


def test_show_plot(runner, data_dir, tmp_path):
    pytest.importorskip("matplotlib")
    out = str(tmp_path / "a")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    r = runner.invoke(cli, ["show", out, "--plot", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_reruns_a_run_exactly(runner, data_dir, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", a, "--sampler", "pdns",
                            "--sampler-opt", "mix=0.8", "--lr", "0.01", *FAST])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["train", "--config", os.path.join(a, "config.json"), "--out", b,
                            "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.load(open(os.path.join(a, "config.json"))) == json.load(
        open(os.path.join(b, "config.json")))
    logs = [[json.loads(x)["loss"] for x in open(os.path.join(d, "log.jsonl"))] for d in (a, b)]
    assert logs[0] == logs[1]


def test_bench_explains_phases_memory_and_peer(runner, data_dir, tmp_path):
    out_json, out_csv = str(tmp_path / "b.json"), str(tmp_path / "b.csv")
    args = ["bench", "--dataset", data_dir, "--models", "lightgcn", "--samplers", "rns,dns",
            "--losses", "bpr", "--epochs", "2", "--batch-size", "64", "--device", "cpu",
            "--eval", "--peer", "pyg", "--peer-batches", "2"]
    r = runner.invoke(cli, [*args, "--output", out_json])
    assert r.exit_code == 0, r.output
    header = next(ln for ln in r.stdout.splitlines() if ln.startswith("model"))
    for col in ("s/epoch", "propa", "sampl", "loss", "backw", "step", "eval s", "peak MB",
                "inter/s"):
        assert col in header
    assert "extrapolated" in r.stdout
    saved = json.load(open(out_json))
    assert saved["command"][:2] == ["gnnrec", "bench"] and "--peer" in saved["command"]
    assert saved["torch"] and saved["machine"]["cpus"] and "commit" in saved
    res = saved["results"]
    ours = [x for x in res if "peer" not in x]
    assert {x["sampler"] for x in ours} == {"rns", "dns"}
    for x in ours:
        assert set(x["phases"]) == {"propagation", "sampling", "loss", "backward", "step"}
        assert x["eval_seconds"] is not None and x["peak_mb"] > 0 and x["interactions_per_s"] > 0
    assert [x["peer"] for x in res if "peer" in x] == ["pyg"]
    r = runner.invoke(cli, [*args, "--output", out_json])
    assert "already exists" in one_line_error(r)
    r = runner.invoke(cli, [*args[:-4], "--output", out_csv])
    assert r.exit_code == 0, r.output
    rows = open(out_csv).read().splitlines()
    assert rows[0].startswith("model,sampler,loss,seconds,ratio,propagation") and len(rows) == 3


def test_help_texts_keep_their_verbatim_blocks():
    # Click keeps a paragraph verbatim after a line holding only "\b" (the
    # backspace character); a raw docstring prints a literal "\b" and reflows it
    for name in list(cli.commands) + [None]:
        r = CliRunner().invoke(cli, ([name] if name else []) + ["--help"])
        assert r.exit_code == 0 and "\\b" not in r.output, name
