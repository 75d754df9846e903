"""The examples run on the bundled data."""
import os
import runpy
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_downstream_link_predictor_trains_and_predicts(tmp_path, capsys, monkeypatch):
    path = os.path.join(ROOT, "examples", "downstream_linkpred.py")
    monkeypatch.setattr(sys, "argv", [path, "--workdir", str(tmp_path), "--epochs", "15"])
    module = runpy.run_path(path, run_name="example")
    result = module["main"](["--workdir", str(tmp_path), "--epochs", "15"])
    out = capsys.readouterr().out
    assert "test AUC" in out and "items related to item" in out
    assert result > 0.6  # well above a random predictor's 0.5
