"""Paper protocols by name: presets, overrides, and each protocol's split
invariants on timestamped (synthetic) data."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from gnnrec import protocols
from gnnrec.cli import cli
from gnnrec.data.interactions import Interactions
from gnnrec.data.loading import load_dataset
from gnnrec.spec import RunSpec
from tests.test_cli import one_line_error

TRAIN, VAL, TEST = Interactions.TRAIN, Interactions.VAL, Interactions.TEST


@pytest.fixture(scope="module")
def synth_csv(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth") / "synth.csv")
    r = CliRunner().invoke(cli, ["data", "synth", "--users", "400", "--items", "300",
                                 "--interactions", "16000", "--seed", "2", "--out", out])
    assert r.exit_code == 0, r.output
    return out


def protocol_data(name, path):
    spec = protocols.apply(RunSpec(), name).validate()
    data = spec.data
    data.path, data.time_col = path, "timestamp"
    if data.split == "given":
        data.split = "random"  # synthetic data ships no test file
    return load_dataset(data)


@pytest.mark.parametrize("name", list(protocols.PROTOCOLS))
def test_every_preset_is_a_valid_spec_that_records_its_name(name):
    spec = protocols.apply(RunSpec(), name).validate()
    assert spec.protocol == name
    settings = protocols.get(name).settings
    assert spec.data.split == settings["data.split"]
    assert spec.evaluation["ks"] == settings["evaluation.ks"]
    assert RunSpec.from_dict(spec.to_dict()).validate().protocol == name


@pytest.mark.parametrize("name", list(protocols.PROTOCOLS))
def test_no_interaction_leaks_between_the_folds(name, synth_csv):
    ds = protocol_data(name, synth_csv)
    key = ds.inter.user * ds.num_items + ds.inter.item
    assert len(np.unique(key)) == len(key)  # each pair in exactly one fold
    train = set(key[ds.inter.fold == TRAIN].tolist())
    for fold in (VAL, TEST, Interactions.TEST_BALANCED):
        assert not train & set(key[ds.inter.fold == fold].tolist())
    evaluated = np.unique(ds.inter.user[ds.inter.fold != TRAIN])
    assert np.isin(evaluated, ds.inter.user[ds.inter.fold == TRAIN]).all()


def test_hdccf_tests_each_users_last_item_and_validates_on_the_one_before(synth_csv):
    ds = protocol_data("hdccf", synth_csv)
    inter = ds.inter
    for u in range(0, ds.num_users, 7):
        mine = inter.user == u
        order = np.argsort(inter.timestamp[mine], kind="stable")
        folds = inter.fold[mine][order]
        assert folds[-1] == TEST and folds[-2] == VAL and (folds[:-2] == TRAIN).all()


def test_pdns_tests_the_latest_tenth_and_carves_validation_eight_to_one(synth_csv):
    ds = protocol_data("pdns", synth_csv)
    inter = ds.inter
    n_val = n_rest = 0
    for u in range(ds.num_users):
        mine = inter.user == u
        t, f = inter.timestamp[mine], inter.fold[mine]
        n = mine.sum()
        assert (f == TEST).sum() == min(int(np.floor(n * 0.1 + 0.5)), n - 1)
        if (f == TEST).any():
            assert t[f == TEST].min() >= t[f != TEST].max()  # the latest ones
        n_val += (f == VAL).sum()
        n_rest += (f != TEST).sum()
    assert n_val / n_rest == pytest.approx(1 / 9, abs=0.01)


def test_ahns_splits_80_20_at_random_and_validates_on_a_tenth_of_train(synth_csv):
    ds = protocol_data("ahns", synth_csv)
    inter = ds.inter
    n = np.bincount(inter.user, minlength=ds.num_users)
    test = np.bincount(inter.user[inter.fold == TEST], minlength=ds.num_users)
    assert np.array_equal(test, np.minimum(np.floor(n * 0.2 + 0.5), n - 1))
    val = np.bincount(inter.user[inter.fold == VAL], minlength=ds.num_users)
    assert val.sum() / (n - test).sum() == pytest.approx(0.1, abs=0.01)
    late = [inter.timestamp[(inter.user == u) & (inter.fold == TEST)].mean()
            > inter.timestamp[(inter.user == u) & (inter.fold == TRAIN)].mean()
            for u in range(ds.num_users) if test[u]]
    assert 0.35 < np.mean(late) < 0.65  # random, not temporal


def test_popdcl_keeps_the_10_core_and_holds_out_two_test_sets(synth_csv):
    ds = protocol_data("popdcl", synth_csv)
    inter = ds.inter
    assert np.bincount(inter.user).min() >= 10 and np.bincount(inter.item).min() >= 10
    share = lambda f: (inter.fold == f).mean()  # noqa: E731
    assert share(Interactions.TEST_BALANCED) == pytest.approx(0.15, abs=0.01)
    assert share(TEST) == pytest.approx(0.15, abs=0.03)


def test_list_protocols_states_what_each_sets_and_where_it_comes_from():
    r = CliRunner().invoke(cli, ["train", "--list-protocols"])
    assert r.exit_code == 0
    for name, p in protocols.PROTOCOLS.items():
        assert f"{name}: {p.summary}" in r.output
    assert "--split loo" in r.output and "--sampled 100" in r.output
    assert "https://arxiv.org/abs/2204.11752" in r.output


def test_an_option_given_wins_over_the_preset_with_a_note(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--protocol", "hdccf", "--split", "random",
                                 "--epochs", "1", "--out", str(tmp_path / "r"), "--device",
                                 "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "--split random overrides protocol hdccf's loo" in r.output
    spec = json.load(open(os.path.join(tmp_path, "r", "config.json")))
    assert spec["protocol"] == "hdccf" and spec["data"]["split"] == "random"
    assert spec["evaluation"]["ks"] == [10, 50] and spec["evaluation"]["sampled"] == 100
    assert "sampled, NOT full ranking" in r.output


def test_a_protocol_that_needs_timestamps_names_those_the_data_supports(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--protocol", "pdns", "--out", str(tmp_path / "r")])
    line = one_line_error(r)
    assert "protocol pdns" in line and "timestamps" in line
    assert "lightgcn, popdcl, ahns" in line
    assert not os.path.exists(tmp_path / "r")


def test_mf_over_a_preset_with_layers_drops_them():
    spec = protocols.apply(RunSpec(), "popdcl", takes_layers=False)
    spec = spec.override(model="mf").validate()
    assert spec.model.name == "mf" and spec.protocol == "popdcl"


def test_hdccf_protocol_end_to_end_reports_full_and_sampled(synth_csv, tmp_path):
    out = str(tmp_path / "r")
    r = CliRunner().invoke(cli, ["train", "--protocol", "hdccf", "--dataset", synth_csv,
                                 "--time-col", "timestamp", "--model", "mf", "--epochs", "2",
                                 "--out", out, "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "temporal leave-one-out" in r.output
    res = json.load(open(os.path.join(out, "results.json")))
    test, sampled = res["test"], res["sampled_test"]
    assert {"hit@10", "ndcg@10", "ndcg@50", "coverage@10", "exposure_tail@50"} <= set(test)
    assert sampled["negatives"] == 100 and sampled["hit@10"] >= test["hit@10"]
