"""Each paper's evaluation protocol by name (``gnnrec train --protocol``).

A protocol is a preset of the run spec: the split and validation carve, the
cut-offs and the selection metric, the sampled evaluation where the paper
uses one, and the hyper-parameters the paper states for every dataset (the
ones it tunes per dataset are listed, not set). An option given beside
``--protocol`` wins over the preset, with a printed note.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from gnnrec.errors import GnnrecError


@dataclass(frozen=True)
class Protocol:
    r"""One paper's protocol.

    Args:
        summary (str): one line.
        source (str): the paper, with its link and the sections the
            settings come from.
        settings (dict): what the preset sets, by path: ``data.<field>``
            (:class:`~gnnrec.data.DataSpec`), ``evaluation.<option>``,
            ``trainer.<option>``, ``objective.<option>``, ``model``, ``dim``,
            ``layers``.
        reported (str): what the paper reports and in which table.
        tuned (str): the hyper-parameters the paper searches per dataset
            (not set by the preset).
        deviations (str): where gnnrec's version differs, and why.
    """
    summary: str
    source: str
    settings: Dict[str, Any]
    reported: str
    tuned: str = ""
    deviations: str = ""
    needs_timestamps: bool = field(default=False)


PROTOCOLS: Dict[str, Protocol] = {
    "lightgcn": Protocol(
        summary="LightGCN / NGCF: the datasets' own train/test files, Recall/NDCG@20",
        source="He et al., LightGCN, SIGIR 2020 <https://arxiv.org/abs/2002.02126>, Sec. 4.1; "
               "values of the authors' PyTorch code (gusye1234/LightGCN-PyTorch: --recdim 64 "
               "--layer 3 --lr 0.001 --decay 1e-4 --bpr_batch 2048, user-first sampling)",
        settings={"data.split": "given", "data.val_frac": 0.1, "evaluation.ks": [20],
                  "evaluation.metric": "recall@20", "model": "lightgcn", "dim": 64,
                  "layers": 3, "trainer.lr": 1e-3, "trainer.batch_size": 2048,
                  "trainer.batching": "users", "objective.reg_weight": 1e-4},
        reported="test Recall@20 / NDCG@20 over all items (the authors' README table: "
                 "Gowalla, 3 layers, 1000 epochs: 0.1824 / 0.1547)",
        deviations="the paper has no validation split and reports test; the preset carves "
                   "10% of each user's training items for selection"),
    "hdccf": Protocol(
        summary="HDCCF: temporal leave-one-out, HR@10, NDCG@10, NDCG@50, full and sampled",
        source="Yang et al., HDCCF, IJCAI 2022 <https://arxiv.org/abs/2204.11752>, Sec. 4 "
               "(Datasets; Evaluation Protocol and Metrics)",
        settings={"data.split": "loo", "data.val_frac": 0.1, "evaluation.ks": [10, 50],
                  "evaluation.metric": "hit@10", "evaluation.sampled": 100},
        reported="Table 1: HR@10, NDCG@10, NDCG@50 on ML-1M, Yelp, Gowalla",
        tuned="omega_u+, omega_i+ in [0, 0.2] (Fig. 4), P (Fig. 4), tau",
        deviations="the paper does not say whether it ranks all items or sampled ones; its "
                   "Gowalla HR@10 of 0.83 is a sampled-candidates figure, so both are "
                   "reported (100 candidates, as NCF); selection uses full-ranking HR@10",
        needs_timestamps=True),
    "popdcl": Protocol(
        summary="PopDCL (after BC loss): balanced + imbalanced test sets, head/mid/tail",
        source="Liu et al., PopDCL, CIKM 2023 <https://doi.org/10.1145/3583780.3615009>, "
               "Sec. 4.1.1 and 4.1.4",
        settings={"data.split": "popbalanced", "data.test_frac": 0.15, "data.val_frac": 0.1,
                  "data.k_core": 10, "evaluation.ks": [20], "evaluation.metric": "recall@20",
                  "model": "lightgcn", "dim": 64, "layers": 2, "trainer.lr": 1e-3,
                  "trainer.batch_size": 2048, "objective.reg_weight": 1e-5},
        reported="Table 3: Recall@20 / NDCG@20 on the balanced and imbalanced test sets; "
                 "Table 4: NDCG@20 per tail / mid / head group (Amazon-Book)",
        tuned="tau in {0.07, 0.08, ..., 0.27}",
        deviations="the paper's L2 coefficient 1e-5 is set as gnnrec's reg (the LightGCN "
                   "form, lambda/2 * sum ||e0||^2 / B), whose scale may differ from its code"),
    "pdns": Protocol(
        summary="PDNS: latest 10% of each user as test, the rest 8:1, Recall/NDCG@50",
        source="Shi et al., PDNS <https://arxiv.org/abs/2211.13912>, Sec. 4.1 and "
               "Appendix A.3",
        settings={"data.split": "temporal", "data.test_frac": 0.1, "data.val_carve": True,
                  "data.val_frac": 1 / 9, "evaluation.ks": [50],
                  "evaluation.metric": "recall@50", "dim": 64, "layers": 3,
                  "trainer.batch_size": 2048},
        reported="Table 2: Recall@50 / NDCG@50 with LightGCN and MF (Taobao, Tmall, "
                 "Gowalla), test at the best validation Recall@50, mean of 5 seeds",
        tuned="H in {8, 16, 32, 64}, beta (= 1 - mix) in {0.01, ..., 0.4}, lr in {0.0005, "
              "..., 0.01}, lambda in {0, 0.1, 0.01, 0.001}, dim in {8, 16, 32, 64} "
              "(Table 6: Gowalla LightGCN H 64, lr 0.005, lambda 1e-4, beta 0.01)",
        deviations="'divided by 8:1' is read as a random carve of validation out of the "
                   "non-test interactions",
        needs_timestamps=True),
    "ahns": Protocol(
        summary="AHNS (after DENS): random 80/20, 10% of train as validation, MF",
        source="Lai et al., AHNS, AAAI 2024 <https://arxiv.org/abs/2401.05191>, Experimental "
               "Setup and Implementation Details",
        settings={"data.split": "random", "data.test_frac": 0.2, "data.val_carve": True,
                  "data.val_frac": 0.1, "evaluation.ks": [20, 50],
                  "evaluation.metric": "recall@20", "model": "mf", "dim": 64,
                  "trainer.lr": 1e-3, "trainer.batch_size": 2048, "trainer.epochs": 100},
        reported="Table 2: Recall@20, NDCG@20, NDCG@50 (%) on ML-1M, Phones, Sports, Tools",
        tuned="M in {4, 8, 16, 32, 64}; alpha, beta in {0.1, ..., 1.0}; p in {-1, -2}"),
}


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise GnnrecError(f"protocol {name!r} is unknown; choose from {', '.join(PROTOCOLS)}",
                          param="protocol",
                          detail=f"{name!r} is unknown; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def override_kwargs(settings: Mapping[str, Any]) -> Dict[str, Any]:
    r"""``settings`` (paths) as keyword arguments of
    :meth:`gnnrec.spec.RunSpec.override`."""
    out: Dict[str, Any] = {"trainer": {}, "objective": {}, "evaluation": {}, "data": {}}
    for path, value in settings.items():
        section, _, key = path.partition(".")
        if key:
            out[section][key] = value
        else:
            out[section] = value
    return out


def apply(spec, name: str, takes_layers: bool = True):
    r"""A copy of ``spec`` with protocol ``name``'s settings on top (and
    its name recorded in ``spec.protocol``); validate it afterwards. With
    ``takes_layers`` false (the run's model has no propagation layers, e.g.
    MF chosen over the preset's LightGCN) the preset's ``layers`` is left
    out."""
    settings = {k: v for k, v in get(name).settings.items()
                if takes_layers or k != "layers"}
    out = spec.override(**override_kwargs(settings))
    out.protocol = name
    return out


def overridden(name: str, given: Mapping[str, Any]) -> List[Tuple[str, Any, Any]]:
    r"""The settings of protocol ``name`` that ``given`` (paths to values,
    e.g. a command line's options) changes: ``(path, preset, given)``."""
    settings = get(name).settings
    return [(path, settings[path], value) for path, value in given.items()
            if path in settings and value is not None and value != settings[path]]


def supported(has_timestamps: bool) -> List[str]:
    """The protocols data with (or without) timestamps can serve."""
    return [n for n, p in PROTOCOLS.items() if has_timestamps or not p.needs_timestamps]


def describe(name: str, flags: Optional[Mapping[str, str]] = None) -> str:
    r"""What ``--list-protocols`` prints for one protocol; ``flags`` maps a
    setting's path to its command-line flag."""
    p = get(name)
    flags = flags or {}
    sets = ", ".join(f"{flags.get(k, k)} {_show(v)}" for k, v in p.settings.items())
    lines = [f"{name}: {p.summary}", f"    sets: {sets}", f"    source: {p.source}",
             f"    paper reports: {p.reported}"]
    if p.tuned:
        lines.append(f"    tuned per dataset (not set): {p.tuned}")
    if p.deviations:
        lines.append(f"    note: {p.deviations}")
    if p.needs_timestamps:
        lines.append("    needs timestamps")
    return "\n".join(lines)


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
