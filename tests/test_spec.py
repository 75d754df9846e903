"""The run spec: validation before data, defaults completed from the
constructors, JSON round trip, overrides, grid."""
import json

import pytest

from gnnrec.data.loading import DataSpec
from gnnrec.errors import GnnrecError
from gnnrec.losses import BPR
from gnnrec.spec import Component, RunSpec
from gnnrec.train.trainer import Trainer


def test_validate_completes_every_default_from_the_constructors():
    spec = RunSpec().validate()
    assert spec.sampler.name == "rns"  # explicit-negative loss: the default sampler
    assert spec.trainer["batch_size"] == Trainer.__init__.__defaults__[1]
    assert spec.loss.options == {"scorer": "dot"}
    assert spec.model.options["num_layers"] == 3
    assert spec.evaluation == {"ks": [20], "metric": "recall@20", "sampled": 0, "patience": 10,
                               "min_delta": 0.0, "eval_every": 1}
    assert RunSpec(loss=Component("popdcl")).validate().sampler is None


def test_json_round_trip_is_identical(tmp_path):
    spec = RunSpec(model=Component("ngcf"), sampler=Component("dns", {"num_candidates": 4}),
                   loss=Component("softbpr", {"beta": 0.2}), layers=2, dim=16,
                   trainer={"lr": 0.01}, data=DataSpec(k_core=5)).validate()
    assert spec.model.options["layer_sizes"] == [16, 16]
    spec.write(str(tmp_path / "s.json"))
    back = RunSpec.from_file(str(tmp_path / "s.json")).validate()
    assert back.to_dict() == spec.to_dict()


def test_build_makes_the_validated_sampler_and_loss_once():
    spec = RunSpec(loss=Component("bpr")).validate()
    checked = spec._parts["loss"]
    objective = spec.build(5, 7)
    assert objective.loss is checked and isinstance(objective.loss, BPR)
    assert objective.loss.scorer is objective.model.scorer


@pytest.mark.parametrize("spec,needle", [
    (RunSpec(model=Component("gcn")), "unknown model 'gcn'"),
    (RunSpec(trainer={"epochs": 0}), "epochs must be >= 1"),
    (RunSpec(trainer={"lr": float("nan")}), "lr must be > 0 and finite"),
    (RunSpec(trainer={"speed": 3}), "'speed': unknown option of Trainer"),
    (RunSpec(objective={"reg_weight": -1.0}), "reg_weight must be >= 0"),
    (RunSpec(evaluation={"patience": -2}), "patience must be an integer >= 0"),
    (RunSpec(evaluation={"eval_every": 0}), "eval_every must be an integer >= 1"),
    (RunSpec(evaluation={"min_delta": -0.01}), "min_delta must be a number >= 0"),
    (RunSpec(evaluation={"min_delta": "0.1"}), "min_delta must be a number >= 0"),
    (RunSpec(model=Component("mf"), layers=2), "layers does not apply"),
    (RunSpec(loss=Component("dcl"), sampler=Component("dns")), "takes no sampler"),
    (RunSpec(model=Component("ngcf", {"layer_sizes": [8, 4]}), sampler=Component("mixgcf")),
     "mixes per-layer embeddings"),
    (RunSpec(sampler=Component("ahns", {"p": 1.0})), "p must be < 0"),
])
def test_validation_names_the_parameter(spec, needle):
    with pytest.raises(GnnrecError) as e:
        spec.validate()
    assert needle in str(e.value)


def test_override_keeps_or_drops_component_options():
    base = RunSpec(sampler=Component("dns", {"num_candidates": 4})).validate()
    same = base.override(sampler="dns", sampler_options=["top=2"]).validate()
    assert same.sampler.options["num_candidates"] == 4 and same.sampler.options["top"] == 2
    other = base.override(sampler="pdns").validate()
    assert other.sampler.options["num_candidates"] is None  # pdns's own default: derived
    assert base.override(trainer={"lr": 0.5, "seed": None}).validate().trainer["lr"] == 0.5


def test_from_dict_refuses_unknown_entries():
    d = RunSpec().validate().to_dict()
    d["optimiser"] = "sgd"
    with pytest.raises(GnnrecError, match="unknown entries 'optimiser'"):
        RunSpec.from_dict(d)
    with pytest.raises(GnnrecError, match="expected a JSON object"):
        RunSpec.from_dict(json.loads("[1]"))


def test_grid_runs_in_batch_losses_once():
    specs = RunSpec.grid(["mf", "lightgcn"], ["rns", "dns"], ["bpr", "ssm"],
                         {"dns": {"num_candidates": 3}})
    assert len(specs) == 6
    assert [s.label for s in specs[:3]] == ["mf-rns-bpr", "mf-dns-bpr", "mf-inbatch-ssm"]
    assert specs[1].sampler.options["num_candidates"] == 3
