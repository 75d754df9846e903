"""CI must run README.rst's own commands."""
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_ci_runs_the_readme_commands():
    readme = open(os.path.join(ROOT, "README.rst")).read()
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    quick = readme.split("Quick start")[1].split("Command line")[0]
    commands = re.findall(r"^    (python3 -m venv .*)$", quick, re.M)
    # install + train, tests + lint, the API reference: each README command is a CI line
    assert len(commands) == 3
    # each fails the run (set -e does not stop at a failure inside a && chain)
    lines = [line for line in ci.splitlines() if line.startswith("python3 -m venv")]
    assert all(line.endswith(" || exit 1") for line in lines)
    assert [line[:-len(" || exit 1")] for line in lines] == commands


def test_bundled_sample_is_packaged():
    cfg = open(os.path.join(ROOT, "setup.cfg")).read()
    for name in ("train.txt", "test.txt", "PROVENANCE.md"):
        assert f"data/gowalla-sample/{name}" in cfg
        assert os.path.exists(os.path.join(ROOT, "data", "gowalla-sample", name))
