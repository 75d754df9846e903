"""The synthetic generator: deterministic, power-law, drifting, usable."""
import numpy as np
import pytest
from click.testing import CliRunner

from gnnrec.cli import cli
from gnnrec.data.synthetic import popularity_exponent, synthesize
from tests.test_cli import one_line_error


def test_deterministic_under_its_seed():
    a, b = synthesize(300, 200, 6000, seed=4), synthesize(300, 200, 6000, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = synthesize(300, 200, 6000, seed=5)
    assert not np.array_equal(a["item"], c["item"])


@pytest.mark.parametrize("exponent", [0.7, 1.0, 1.3])
def test_item_popularity_has_the_stated_exponent(exponent):
    d = synthesize(3000, 2000, 200000, item_exponent=exponent, seed=1)
    assert popularity_exponent(d["item"], top=100) == pytest.approx(exponent, abs=0.12)


def test_user_activity_is_skewed_and_every_user_has_three():
    d = synthesize(1000, 500, 30000, user_exponent=1.0, seed=2)
    counts = np.bincount(d["user"], minlength=1000)
    assert counts.min() >= 3 and counts.max() > 20 * np.median(counts)


def test_tastes_drift_over_time():
    # with drift, a user's early and late items differ more than without
    def overlap(drift):
        d = synthesize(200, 400, 40000, drift=drift, concentration=6.0, user_exponent=0.0,
                       seed=3)
        same = []
        for u in range(200):
            mine = d["item"][d["user"] == u]
            half = len(mine) // 2
            a, b = set(mine[:half]), set(mine[half:])
            same.append(len(a & b) / max(len(a | b), 1))
        return np.mean(same)
    assert overlap(3.0) < overlap(0.0) - 0.05


def test_synth_cli_writes_a_csv_the_temporal_split_reads(tmp_path):
    out = str(tmp_path / "s.csv")
    r = CliRunner().invoke(cli, ["data", "synth", "--users", "200", "--items", "100",
                                 "--interactions", "3000", "--seed", "1", "--out", out])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["data", "--dataset", out, "--time-col", "timestamp", "--split",
                                 "temporal", "--json"])
    assert r.exit_code == 0, r.output
    assert '"users": 200' in r.output
    r = CliRunner().invoke(cli, ["data", "synth", "--users", "0", "--out", str(tmp_path / "x")])
    assert "--users must be an integer >= 1" in one_line_error(r)
    r = CliRunner().invoke(cli, ["data", "synth", "--out", out])
    assert "already exists" in one_line_error(r)
