"""``benchmarks/gowalla.py cut``: a selection run that will not resume ends
at its best epoch so far; ``select`` then leaves it alone, ``refit`` trains
to that epoch (not to the last one run) and tests, and the table marks it."""
import importlib.util
import json
import os

import pytest

from tests.conftest import tiny_lightgcn_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, os.pardir, "benchmarks")


@pytest.fixture
def gowalla(monkeypatch):
    monkeypatch.syspath_prepend(BENCH)  # the table's reST helper (methods.py)
    spec = importlib.util.spec_from_file_location("gowalla_benchmark",
                                                  os.path.join(BENCH, "gowalla.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def selection_log(run, epochs, best):
    """A selection run's log: validation every epoch, the best at ``best``."""
    os.makedirs(run)
    with open(os.path.join(run, "log.jsonl"), "w") as f:
        for e in range(1, epochs + 1):
            f.write(json.dumps({"epoch": e, "train_seconds": 1.0, "loss": 1.0 / e,
                                "val/recall@20": 0.1 + 0.01 * (e == best),
                                "test/recall@20": 0.05, "test/ndcg@20": 0.04,
                                "is_best": e == best, "best_epoch": min(e, best)}) + "\n")


def test_a_cut_selection_run_is_refit_to_its_best_epoch_and_tested(tmp_path, gowalla, capsys):
    data = tiny_lightgcn_dataset(str(tmp_path / "tiny"), num_users=30, num_items=25)
    out, common = str(tmp_path / "out"), ["--data", data, "--rows", "lightgcn-rns", "--seeds", "0"]
    run = os.path.join(out, "runs", "lightgcn-rns-s0")
    selection_log(run, epochs=5, best=3)

    gowalla.main(["refit", "--out", out, *common, "--max-seconds", "3", "--poll", "0.2"])
    assert gowalla._trained_epochs(run + "-refit") == 3  # follows the best so far ...
    assert not gowalla.refit_done(run + "-refit")  # ... and waits to test

    gowalla.main(["cut", "--out", out, *common, "--reason", "checkpoint lost"])
    cut = json.load(open(os.path.join(run, "cut.json")))
    assert (cut["epochs_run"], cut["best_epoch"], cut["reason"]) == (5, 3, "checkpoint lost")
    assert gowalla.selection_state(run) == (3, True)

    before = open(os.path.join(run, "log.jsonl")).read()
    gowalla.main(["select", "--out", out, *common])
    assert open(os.path.join(run, "log.jsonl")).read() == before
    assert not os.path.exists(os.path.join(run, "last.pt"))

    gowalla.main(["refit", "--out", out, *common, "--poll", "0"])
    res = json.load(open(os.path.join(run + "-refit", "results.json")))
    assert res["epochs_run"] == 3 and "recall@20" in res["test"]
    assert gowalla._trained_epochs(run + "-refit") == 3

    capsys.readouterr()
    gowalla.main(["summarize", "--out", out])
    assert "lightgcn-rns (cut at 5)" in capsys.readouterr().out
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    assert row["cut"]["0"]["epochs_run"] == 5 and row["refit"]["seeds"] == [0]


def test_cut_needs_an_evaluated_epoch(tmp_path, gowalla):
    out = str(tmp_path / "out")
    os.makedirs(os.path.join(out, "runs", "lightgcn-rns-s0"))
    with pytest.raises(SystemExit, match="no evaluated epoch"):
        gowalla.main(["cut", "--out", out, "--rows", "lightgcn-rns", "--reason", "x"])


def test_group_names_the_folder_of_run_folders(tmp_path, gowalla):
    """``--group gpu-survey`` cuts (and refits) the survey's runs, not the main ones."""
    out = str(tmp_path / "out")
    run = os.path.join(out, "gpu-survey", "lightgcn-dns-s1")
    selection_log(run, epochs=4, best=2)
    gowalla.main(["cut", "--out", out, "--group", "gpu-survey", "--rows", "lightgcn-dns",
                  "--seeds", "1", "--reason", "lease ended"])
    assert json.load(open(os.path.join(run, "cut.json")))["best_epoch"] == 2
    assert not os.path.exists(os.path.join(out, "runs", "lightgcn-dns-s1"))


def test_a_run_resumes_under_its_own_spec_after_a_default_changed(tmp_path, gowalla,
                                                                  monkeypatch):
    data = tiny_lightgcn_dataset(str(tmp_path / "tiny"), num_users=30, num_items=25)
    out, common = str(tmp_path / "out"), ["--data", data, "--rows", "lightgcn-dcl", "--seeds", "0"]
    run = os.path.join(out, "runs", "lightgcn-dcl-s0")
    gowalla.main(["select", "--out", out, *common, "--max-seconds", "0.001"])  # one epoch
    assert os.path.exists(os.path.join(run, "last.pt"))
    # the row's meaning changes after the run started (as a default does)
    encoder, sampler, loss, options, every, patience = gowalla.ROWS["lightgcn-dcl"]
    monkeypatch.setitem(gowalla.ROWS, "lightgcn-dcl",
                        (encoder, sampler, loss, {**options, "dcl.scorer": "dot"}, every,
                         patience))
    gowalla.main(["select", "--out", out, *common, "--max-seconds", "0.001"])  # not refused
    epochs = [json.loads(line)["epoch"] for line in open(os.path.join(run, "log.jsonl"))]
    assert epochs[-1] == 2
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["loss"]["options"]["scorer"] is None  # it went on under its own spec


def test_a_worker_skips_a_job_another_holds_not_one_a_stopped_worker_left(
        tmp_path, gowalla, capsys):
    """A job's lock is the kernel's: a live worker's keeps others off it; the
    lock file a stopped worker left (even naming a live PID, as after a new
    machine reuses PIDs) does not."""
    data = tiny_lightgcn_dataset(str(tmp_path / "tiny"), num_users=30, num_items=25)
    out, common = str(tmp_path / "out"), ["--data", data, "--rows", "lightgcn-rns", "--seeds", "0"]
    run = os.path.join(out, "runs", "lightgcn-rns-s0")
    other = gowalla.claim(run)
    assert other is not None and gowalla.claim(run) is None
    capsys.readouterr()
    gowalla.main(["select", "--out", out, *common, "--max-seconds", "0.001"])
    assert not os.path.exists(run)
    assert "[lightgcn-rns s0] another worker is training it: skipped" in capsys.readouterr().out
    other.release()
    with open(run + ".lock", "w") as f:
        f.write(f"{os.getpid()}\n")
    gowalla.main(["select", "--out", out, *common, "--max-seconds", "0.001"])  # one epoch
    assert os.path.exists(os.path.join(run, "last.pt"))
    assert not os.path.exists(run + ".lock")  # released


def test_an_interrupted_select_says_it_resumes_without_a_traceback(tmp_path, gowalla, capsys,
                                                                   monkeypatch):
    def stopped(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(gowalla, "cmd_select", stopped)
    with pytest.raises(SystemExit) as e:
        gowalla.main(["select", "--rows", "lightgcn-rns", "--out", str(tmp_path)])
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert "last.pt holds its last completed epoch" in err and "Traceback" not in err


def test_a_seed_still_running_stays_out_of_a_rows_figures(tmp_path, gowalla, capsys):
    """A row's mean is over final seeds (finished or cut); a second seed
    started later is named, not averaged in at its best so far."""
    out = str(tmp_path / "out")
    cut_run = os.path.join(out, "runs", "lightgcn-rns-s0")
    selection_log(cut_run, epochs=6, best=4)
    gowalla.main(["cut", "--out", out, "--rows", "lightgcn-rns", "--seeds", "0", "--reason", "x"])
    running = os.path.join(out, "runs", "lightgcn-rns-s1")
    os.makedirs(running)
    with open(os.path.join(running, "log.jsonl"), "w") as f:
        f.write(json.dumps({"epoch": 2, "train_seconds": 1.0, "val/recall@20": 0.2,
                            "test/recall@20": 0.01, "test/ndcg@20": 0.01, "best_epoch": 2}) + "\n")
    capsys.readouterr()
    gowalla.main(["summarize", "--out", out])
    assert "lightgcn-rns (cut at 6); seed 1 running (epoch 2)" in capsys.readouterr().out
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    assert row["seeds"] == [0] and row["running"] == {"1": 2}
    assert row["test_recall@20"]["mean"] == 0.05 and row["best_epoch"]["mean"] == 4
    # alone, a running seed is the row (as before: marked running)
    os.rename(cut_run, cut_run + "-gone")
    gowalla.main(["summarize", "--out", out])
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    assert row["seeds"] == [1] and row["running"] == {} and row["test_recall@20"]["mean"] == 0.01


def test_a_refit_of_some_seeds_names_them_and_one_under_way_its_epoch(
        tmp_path, gowalla, capsys):
    """The refit column is not read as the row's seeds: a refit of seed 0
    alone says so, and seed 1's refit, still training, is named with its
    epoch and target instead of being averaged in or left out silently."""
    out = str(tmp_path / "out")
    for seed in (0, 1):
        selection_log(os.path.join(out, "runs", f"lightgcn-rns-s{seed}"), epochs=6, best=4)
    gowalla.main(["cut", "--out", out, "--rows", "lightgcn-rns", "--seeds", "0,1",
                  "--reason", "x"])
    for seed, epochs, test in ((0, 4, {"recall@20": 0.2, "ndcg@20": 0.1}), (1, 2, None)):
        refit = os.path.join(out, "runs", f"lightgcn-rns-s{seed}-refit")
        os.makedirs(refit)
        with open(os.path.join(refit, "log.jsonl"), "w") as f:
            for e in range(1, epochs + 1):
                f.write(json.dumps({"epoch": e, "train_seconds": 1.0}) + "\n")
        if test:
            with open(os.path.join(refit, "results.json"), "w") as f:
                json.dump({"epochs_run": epochs, "test": test}, f)
    capsys.readouterr()
    gowalla.main(["summarize", "--out", out])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("lightgcn-rns"))
    assert "seed 1 refit ran 2 of 4 epochs" in line and "0.2000 (seed 0)" in line
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    assert row["refit"]["seeds"] == [0] and row["refit_running"] == {"1": {"epoch": 2, "of": 4}}


def test_summarize_rewrites_the_readme_table_and_leaves_the_prose(tmp_path, gowalla, capsys):
    """``--readme`` replaces exactly the table with the ``system ... selected
    on`` header; the text around it, and other tables, stay as they were."""
    out = str(tmp_path / "out")
    selection_log(os.path.join(out, "runs", "lightgcn-rns-s0"), epochs=6, best=4)
    gowalla.main(["cut", "--out", out, "--rows", "lightgcn-rns", "--seeds", "0", "--reason", "x"])
    readme = tmp_path / "README.rst"
    other = "===  ===\na    b\n===  ===\n1    2\n===  ===\n"
    old = ("======  ===========  ====\nsystem  selected on  R@20\n======  ===========  ====\n"
           "stale   test         0.1\n======  ===========  ====\n")
    readme.write_text("Intro.\n\n" + other + "\nBefore.\n\n" + old + "\nAfter.\n")
    capsys.readouterr()
    gowalla.main(["summarize", "--out", out, "--readme", str(readme)])
    printed = capsys.readouterr().out
    text = readme.read_text()
    table = "\n".join(line.rstrip() for line in  # written without trailing blanks
                      printed[printed.index("====="):printed.index("\ntable written")].split("\n"))
    assert "stale" not in text and "\nBefore.\n\n" + table + "\n\nAfter.\n" in text
    assert text.startswith("Intro.\n\n" + other) and "lightgcn-rns (cut at 6)" in text
    readme.write_text("No table here.\n")
    with pytest.raises(SystemExit, match="no table"):
        gowalla.main(["summarize", "--out", out, "--readme", str(readme)])
    assert readme.read_text() == "No table here.\n"


def test_a_run_whose_checkpoint_is_gone_is_named_not_started_over(tmp_path, gowalla, capsys):
    """The committed logs of runs whose checkpoints git did not keep: ``select``
    and ``refit`` say what to do and leave them as they are."""
    data = tiny_lightgcn_dataset(str(tmp_path / "tiny"), num_users=30, num_items=25)
    out, common = str(tmp_path / "out"), ["--data", data, "--rows", "lightgcn-rns", "--seeds", "0"]
    run = os.path.join(out, "runs", "lightgcn-rns-s0")
    selection_log(run, epochs=5, best=3)
    selection_log(run + "-refit", epochs=2, best=2)
    before = [open(os.path.join(r, "log.jsonl")).read() for r in (run, run + "-refit")]
    capsys.readouterr()
    gowalla.main(["select", "--out", out, *common])
    gowalla.main(["refit", "--out", out, *common, "--poll", "0"])
    said = capsys.readouterr().out
    assert "trained 5 epochs but its last.pt is gone: `gowalla.py cut`" in said
    assert "trained 2 epochs but its last.pt is gone: remove the folder" in said
    assert [open(os.path.join(r, "log.jsonl")).read() for r in (run, run + "-refit")] == before
    assert not any(os.path.exists(os.path.join(r, "last.pt")) for r in (run, run + "-refit"))


def test_a_refit_that_reaches_the_target_has_its_time_in_the_table(tmp_path, gowalla, capsys):
    # selection below the target at its best epoch (3: 3 s of training), a refit above it
    # (4 s): the time to quality is the two one after the other, marked as the refit's
    out = str(tmp_path / "out")
    run = os.path.join(out, "runs", "lightgcn-rns-s0")
    selection_log(run, epochs=5, best=3)
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"best_epoch": 3}, f)
    os.makedirs(run + "-refit")
    with open(os.path.join(run + "-refit", "log.jsonl"), "w") as f:
        for e in range(1, 4):
            f.write(json.dumps({"epoch": e, "train_seconds": 4.0 / 3}) + "\n")
    with open(os.path.join(run + "-refit", "results.json"), "w") as f:
        json.dump({"epochs_run": 3, "test": {"recall@20": gowalla.TARGET + 0.001,
                                             "ndcg@20": 0.15}}, f)
    capsys.readouterr()
    gowalla.main(["summarize", "--out", out])
    printed = capsys.readouterr().out
    row = json.load(open(os.path.join(out, "summary.json")))["rows"][0]
    assert row["seconds_to_target"] == {"0": None}
    assert row["seconds_to_target_refit"] == {"0": pytest.approx(3.0 + 4.0)}
    # and what the user waited: all 5 selection epochs (the best is known at the end)
    assert row["seconds_end_to_end_refit"] == {"0": pytest.approx(5.0 + 4.0)}
    assert "0 min (refit)" in printed


def test_the_time_to_target_names_every_seed_not_the_fastest(gowalla):
    # two seeds at 113 and 122 min: the range, not the faster one alone
    assert gowalla.minutes([6794.0, 7314.0], [0, 1], "refit") == "113-122 min (refit)"
    # one seed of two reached it: said, so a single lucky seed does not read as the row's
    assert gowalla.minutes([600.0], [0, 1]) == "10 min (1 of 2 seeds)"
    assert gowalla.minutes([600.0], [0, 1], "refit") == "10 min (refit, 1 of 2 seeds)"
    assert gowalla.minutes([600.0, 610.0], [0, 1]) == "10 min"


def test_the_summary_takes_the_run_s_own_best_epoch_not_the_highest_validation(
        gowalla, tmp_path):
    # a creep below min_delta: the run kept epoch 1 as its best while epoch 3 scored higher
    run = str(tmp_path / "sel")
    os.makedirs(run)
    with open(os.path.join(run, "log.jsonl"), "w") as f:
        for e, val, test in ((1, 0.200, 0.19), (2, 0.2004, 0.18), (3, 0.2008, 0.17)):
            f.write(json.dumps({"epoch": e, "train_seconds": 1.0, "val/recall@20": val,
                                "test/recall@20": test, "test/ndcg@20": test,
                                "best_epoch": 1}) + "\n")
    s = gowalla.summarize_selection(run)
    assert (s["best_epoch"], s["test_recall@20"]) == (1, 0.19)
    assert s["seconds_to_best"] == 1.0 and s["epoch_target_reached"] == 1
    assert s["seconds_run"] == 3.0  # what the user waited for: patience's tail included


def test_the_test_selected_figure_is_kept_apart_from_the_validation_selected_one(
        gowalla, tmp_path):
    """The published figures select on test; the summary records what that
    would report from the same curve (the highest test, its epoch), beside,
    never instead of, the test at the validation-chosen epoch."""
    run = str(tmp_path / "sel")
    os.makedirs(run)
    with open(os.path.join(run, "log.jsonl"), "w") as f:
        for e, val, test in ((1, 0.20, 0.15), (2, 0.22, 0.17), (3, 0.21, 0.18), (4, 0.19, 0.18)):
            f.write(json.dumps({"epoch": e, "train_seconds": 1.0, "val/recall@20": val,
                                "test/recall@20": test, "test/ndcg@20": test,
                                "best_epoch": 2}) + "\n")
    s = gowalla.summarize_selection(run)
    assert (s["best_epoch"], s["test_recall@20"]) == (2, 0.17)
    assert s["selected_on_test"] == {"epoch": 3, "test_recall@20": 0.18}  # the first of a tie


def test_stopping_replays_min_delta_on_the_logged_curves(gowalla, tmp_path, capsys):
    out = str(tmp_path / "out")
    run = os.path.join(out, "runs", "lightgcn-rns-s0")  # patience 10 evaluations
    os.makedirs(run)
    with open(os.path.join(run, "log.jsonl"), "w") as f:
        for e in range(1, 16):  # creeps up 0.00008 an evaluation: a new best each time at 0
            f.write(json.dumps({"epoch": e, "val/recall@20": 0.2 + 0.00008 * e,
                                "test/recall@20": 0.3 - 0.01 * e, "best_epoch": e}) + "\n")
    save = str(tmp_path / "s.json")
    gowalla.main(["stopping", "--out", out, "--min-delta", "0.001", "--save", save])
    r = json.load(open(save))[0]
    assert (r["own_best_epoch"], r["best_epoch"], r["stop_epoch"]) == (15, 1, 11)
    assert r["test_recall@20"] == 0.29
    gowalla.main(["stopping", "--out", out, "--min-delta", "0", "--save", save])
    r = json.load(open(save))[0]
    assert (r["best_epoch"], r["stop_epoch"]) == (15, None)
    assert "not by 15" in capsys.readouterr().out


def test_every_row_builds_a_valid_spec_with_its_options_applied(gowalla):
    """A row's misspelt option or out-of-range value fails here, not hours into a run."""
    args = type("Args", (), {"data": "unused"})()
    for row, (encoder, sampler, loss, options, _, _) in gowalla.ROWS.items():
        spec = gowalla.row_spec(args, row, seed=0)
        assert spec.model.name == encoder and spec.loss.name == loss, row
        assert (spec.sampler is None) == (sampler is None), row
    pdns = gowalla.row_spec(args, "lightgcn-pdns64-b8192-lr1e-2", seed=0)
    assert pdns.sampler.options["num_candidates"] == 64 and pdns.sampler.options["mix"] == 0.99
    assert pdns.objective["reg_weight"] == 1e-4 and pdns.trainer["batch_size"] == 8192
