"""Options several commands share (the run spec's, the data's, the
device), and building a run spec from them."""
import json
from typing import Dict, Optional

import click

from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.nn import MODELS
from gnnrec.nn.scorers import SCORERS
from gnnrec.protocols import PROTOCOLS
from gnnrec.registry import default_of, describe_options, first_line
from gnnrec.sampling import SAMPLERS
from gnnrec.spec import DEFAULT_SAMPLER
from gnnrec.train.batching import BATCHINGS
from gnnrec.train.callbacks import EarlyStopping, Evaluate
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Trainer
from gnnrec.cli.session import FLAGS, Session


ENCODER_ARGS = ("num_users", "num_items")


class Registry(click.ParamType):
    r"""A name from a registry, checked when parsed (not when the CLI is
    imported), so a component registered later is accepted and listed."""

    def __init__(self, registry, what: str):
        self.registry, self.name = registry, what

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(self.registry) + "]"

    def convert(self, value, param, ctx):
        key = str(value).lower()
        if key not in self.registry:
            self.fail(f"{value!r} is not one of {', '.join(self.registry)}", param, ctx)
        return key


class Help(click.Option):
    """An option whose help is a function, evaluated when shown (so lists of
    registered components are current)."""

    def __init__(self, *args, help=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.help_fn = help

    def get_help_record(self, ctx):
        self.help = self.help_fn()
        return super().get_help_record(ctx)


def in_batch_names() -> str:
    from gnnrec.train.objective import negatives_of

    return ", ".join(n for n, c in LOSSES.items() if negatives_of(c) == "in_batch")


def dataset_options(f):
    from gnnrec.data.formats import READERS
    from gnnrec.data.loading import FORMATS, SPLITS, DataSpec

    d = lambda name: default_of(DataSpec, name)  # noqa: E731
    opts = [
        click.option("--dataset", "path", type=click.Path(), default=None,
                     help="A LightGCN folder (train.txt [+ val.txt] [+ test.txt]) or file, a "
                          "MovieLens ratings.dat / u.data, a CSV/TSV file with a header, or "
                          "gowalla / yelp2018 / amazon-book (downloaded once into "
                          "$GNNREC_DATA, default ~/.cache/gnnrec). Default: the bundled "
                          "10-core Gowalla sample."),
        click.option("--format", "format", type=click.Choice(FORMATS), default=None,
                     help="Input format; auto tells it from the name and the first lines "
                          "(and says what it found). " + "; ".join(
                              f"{n}: {c.summary}" for n, c in READERS.items())
                          + f". [default: {d('format')}]"),
        click.option("--split", type=click.Choice(SPLITS), default=None,
                     help="given: the files' train/test; random: per-user random; temporal: "
                          "latest share of each user; loo: temporal leave-one-out; "
                          "popbalanced: PopDCL's balanced + imbalanced tests; auto: given "
                          f"when a test file exists, else random. [default: {d('split')}]"),
        click.option("--test-frac", type=float, default=None,
                     help=f"Per-user test share (random/temporal). [default: {d('test_frac')}]"),
        click.option("--val-frac", type=float, default=None,
                     help="Per-user validation share; with --split given it is carved out of "
                          f"each user's training items. 0 disables. [default: {d('val_frac')}]"),
        click.option("--val-carve/--no-val-carve", "val_carve", default=None,
                     help="With --split random/temporal: take validation at random out of "
                          "each user's training interactions after the test share (--val-frac "
                          "is then a share of what remains), not by the split's own rule. "
                          f"[default: {'on' if d('val_carve') else 'off'}]"),
        click.option("--k-core", type=int, default=None,
                     help=f"Keep the k-core (users and items with >= k interactions); 0 keeps all. "
                          f"[default: {d('k_core')}]"),
        click.option("--min-rating", type=float, default=None,
                     help="Keep only ratings >= this as positives (MovieLens/CSV)."),
        click.option("--user-col", default=None,
                     help="CSV user column. [default: found by name: user, user_id, userId, "
                          "...]"),
        click.option("--item-col", default=None,
                     help="CSV item column. [default: found by name: item, item_id, movieId, "
                          "...]"),
        click.option("--rating-col", default=None,
                     help="CSV rating column. [default: found by name (rating, score, ...) "
                          "when present]"),
        click.option("--time-col", default=None,
                     help="CSV timestamp column (numeric; needed by temporal splits). "
                          "[default: found by name (timestamp, time, ...) when present]"),
        click.option("--data-opt", "data_opt", multiple=True, metavar="KEY=VALUE",
                     help="Another option of the format's reader, repeatable."),
        click.option("--data-seed", "data_seed", type=int, default=None,
                     help=f"Seed of random splits. [default: {d('seed')}]"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


DATA_KEYS = ("path", "format", "split", "test_frac", "val_frac", "val_carve", "k_core",
             "min_rating", "user_col", "item_col", "rating_col", "time_col", "data_seed",
             "data_opt")


def data_changes(kwargs: Dict) -> Dict:
    """The data options given on the command line, as DataSpec fields."""
    given = {k: kwargs.pop(k) for k in DATA_KEYS}
    given["seed"] = given.pop("data_seed")
    pairs = given.pop("data_opt") or ()
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise GnnrecError(f"--data-opt {bad[0]!r}: expected KEY=VALUE")
    if pairs:
        given["options"] = dict(p.split("=", 1) for p in pairs)
    return {k: v for k, v in given.items() if v is not None}


def load(session: Session, spec, protocol: Optional[str] = None):
    from gnnrec.data.loading import load_dataset
    from gnnrec.data.splits import NeedsTimestamps
    from gnnrec.protocols import supported

    try:
        ds = load_dataset(spec, echo=session.echo)
    except NeedsTimestamps as e:
        if not protocol:
            raise
        raise GnnrecError(f"protocol {protocol}: {e}; protocols this data supports: "
                          f"{', '.join(supported(False))} (or override --split)") from None
    session.echo(f"dataset {ds.name}: {ds.num_users} users, {ds.num_items} items, "
                 f"{len(ds.inter)} interactions")
    for note in ds.notes:
        session.echo(f"  note: {note}")
    return ds


def parse_ks(text: str):
    try:
        return sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise GnnrecError(f"ks {text!r}: expected comma-separated integers", param="ks",
                          detail=f"{text!r}: expected comma-separated integers") from None


def component_help(registry, skip=()) -> str:
    lines = []
    for name, cls in registry.items():
        lines.append(f"{name}: {first_line(cls)}")
        for opt, default, text in describe_options(cls, skip):
            lines.append(f"    {opt}={default}  {text}")
    return "\n".join(lines)


def _spec_default(role):
    from gnnrec.spec import RunSpec

    return getattr(RunSpec(), role).name


SPEC_KEYS = ("config", "protocol", "model", "sampler", "loss", "dim", "layers", "model_opt",
             "sampler_opt", "loss_opt", "epochs", "batch_size", "lr", "reg", "batching", "seed",
             "ks", "metric", "sampled", "patience", "min_delta", "eval_every")


def spec_options(f):
    r"""The options that make a run spec (and the data options), shared by
    ``train`` and ``tune``."""
    f = dataset_options(f)
    for opt in reversed(_component_options() + _training_options()):
        f = opt(f)
    return f


def _component_options():
    """What is trained: the spec file or preset, the model, sampler, loss."""
    return [
        click.option("--config", "config", type=click.Path(), default=None,
                     help="Start from a run spec (a run's config.json, a tuner's best.json); "
                          "other options given here change it."),
        click.option("--protocol", type=Registry(PROTOCOLS, "protocol"), default=None,
                     help="A paper's evaluation protocol as a preset: split, validation, "
                          "cut-offs, selection metric, sampled evaluation and the "
                          "hyper-parameters the paper fixes (see --list-protocols). Options "
                          "given here win over it, with a note."),
        click.option("--model", type=Registry(MODELS, "model"), default=None,
                     help=f"Encoder. [default: {_spec_default('model')}]"),
        click.option("--sampler", type=Registry(SAMPLERS, "sampler"), default=None, cls=Help,
                     help=lambda: "Negative sampler for losses with explicit negatives (see "
                                  f"--list-options); in-batch losses ({in_batch_names()}) take "
                                  f"none. [default: {DEFAULT_SAMPLER}]"),
        click.option("--loss", type=Registry(LOSSES, "loss"), default=None,
                     help=f"Training loss. [default: {_spec_default('loss')}]"),
        click.option("--dim", type=int, default=None,
                     help="Embedding size (model option embedding_dim). "
                          f"[default: {default_of(MODELS['lightgcn'], 'embedding_dim')}]"),
        click.option("--layers", type=int, default=None,
                     help="Propagation layers (LightGCN num_layers; NGCF layer_sizes = dim x "
                          f"layers). [default: {default_of(MODELS['lightgcn'], 'num_layers')}]"),
        click.option("--model-opt", multiple=True, metavar="KEY=VALUE",
                     help="Other encoder option, repeatable (see --list-options)."),
        click.option("--sampler-opt", multiple=True, metavar="KEY=VALUE",
                     help="Sampler option, repeatable (see --list-options)."),
        click.option("--loss-opt", multiple=True, metavar="KEY=VALUE", cls=Help,
                     help=lambda: "Loss option, repeatable (see --list-options). A loss's "
                                  f"scorer ({', '.join(SCORERS)}) becomes the model's: "
                                  "evaluation, recommend and export rank with it."),
    ]


def _training_options():
    """How it is trained and selected: the trainer's, objective's and
    evaluation's options."""
    return [
        click.option("--epochs", type=int, default=None,
                     help="Maximum epochs (early stopping may end sooner). "
                          f"[default: {default_of(Trainer, 'epochs')}]"),
        click.option("--batch-size", type=int, default=None,
                     help="Interactions per step. LightGCN and NGCF propagate the whole graph "
                          "at every step, so a larger batch makes an epoch cheaper (full "
                          "Gowalla, 2 CPU cores: 8192 is ~3.7x cheaper than 2048); raise "
                          "--lr with it (benchmarks/README.rst, section 5). "
                          f"[default: {default_of(Trainer, 'batch_size')}]"),
        click.option("--lr", type=float, default=None,
                     help=f"Adam learning rate. [default: {default_of(Trainer, 'lr')}]"),
        click.option("--reg", "reg", type=float, default=None,
                     help="L2 weight on the batch's ego embeddings, lambda/2 * sum ||e0||^2 / B "
                          "(the LightGCN authors' form). "
                          f"[default: {default_of(Objective, 'reg_weight')}]"),
        click.option("--batching", type=click.Choice(list(BATCHINGS)), default=None,
                     help="edges: an epoch is one pass over the training interactions; users: "
                          "draw a user then one of its items |train| times (LightGCN's code). "
                          f"[default: {default_of(Trainer, 'batching')}]"),
        click.option("--seed", type=int, default=None, help="Seed of initialisation, batches "
                     f"and negatives. [default: {default_of(Trainer, 'seed')}]"),
        click.option("--ks", default=None, help="Comma-separated cut-offs K for "
                     "Recall/NDCG/Precision/HitRate/MRR@K. "
                     f"[default: {','.join(map(str, default_of(EvalProtocol, 'ks')))}]"),
        click.option("--metric", default=None,
                     help="Validation metric for model selection and early stopping, NAME@K. "
                          "[default: recall@<first K>]"),
        click.option("--sampled", type=int, default=None,
                     help="Also report each test item ranked against N random items the user "
                          "never interacted with (HR/NDCG@K of NCF-era papers; labelled "
                          "sampled, never used for selection); 0 off. "
                          f"[default: {default_of(EvalProtocol, 'sampled')}]"),
        click.option("--patience", type=int, default=None,
                     help="Stop after this many evaluations without improvement; 0 never "
                          f"stops. [default: {default_of(EarlyStopping, 'patience')}]"),
        click.option("--min-delta", "min_delta", type=float, default=None,
                     help="An evaluation improves only if it beats the best so far by more "
                          "than this (in the metric's units, e.g. 0.001 Recall@20): a curve "
                          "creeping up by less keeps its earlier best epoch. "
                          f"[default: {default_of(EarlyStopping, 'min_delta')}]"),
        click.option("--eval-every", "eval_every", type=int, default=None,
                     help="Evaluate on validation every N epochs. "
                          f"[default: {default_of(Evaluate, 'every')}]"),
    ]


def setting_flag(path: str) -> str:
    r"""The flag that sets a run-spec path (:data:`FLAGS`), for notes."""
    name = FLAGS.get(path, path.rpartition(".")[2])
    return "--dataset" if name == "path" else "--" + name.replace("_", "-")


def build_spec(kwargs: Dict, config: Optional[str] = None, echo=None):
    r"""The run spec of the command line: ``--config`` (or the defaults),
    then ``--protocol``'s preset, then every given option on top,
    validated. Pops the options it uses; ``echo`` gets a note for each
    preset value an option overrides."""
    from gnnrec.data.loading import bundled_path
    from gnnrec.protocols import apply, get, overridden
    from gnnrec.spec import RunSpec

    o = {k: kwargs.pop(k) for k in SPEC_KEYS}
    config = config or o["config"]
    base = RunSpec.from_file(config) if config else RunSpec()
    ks = None if o["ks"] is None else parse_ks(o["ks"])
    data = data_changes(kwargs)
    if config and not data.get("path") and not _has_data(config):
        raise GnnrecError(f"{config}: names no data (no \"data\" entry); add one or give "
                          "--dataset (the bundled sample is --dataset "
                          f"{bundled_path()})")
    if o["protocol"]:
        given = {"model": o["model"], "dim": o["dim"], "layers": o["layers"],
                 "objective.reg_weight": o["reg"], "evaluation.ks": ks,
                 **{f"trainer.{k}": o[k] for k in ("epochs", "batch_size", "lr", "batching")},
                 **{f"evaluation.{k}": o[k] for k in ("metric", "sampled", "patience",
                                                      "min_delta", "eval_every")},
                 **{f"data.{k}": v for k, v in data.items()}}
        for path, preset, value in overridden(o["protocol"], given):
            if echo:
                echo(f"note: {setting_flag(path)} {value} overrides protocol "
                     f"{o['protocol']}'s {preset} (an option given wins)")
        model = o["model"] or get(o["protocol"]).settings.get("model") or base.model.name
        base = apply(base, o["protocol"], takes_layers=model != "mf")
    spec = base.override(
        model=o["model"], sampler=o["sampler"], loss=o["loss"], model_options=o["model_opt"],
        sampler_options=o["sampler_opt"], loss_options=o["loss_opt"], dim=o["dim"],
        layers=o["layers"],
        trainer=dict(epochs=o["epochs"], batch_size=o["batch_size"], lr=o["lr"],
                     batching=o["batching"], seed=o["seed"]),
        objective=dict(reg_weight=o["reg"]),
        evaluation=dict(ks=ks, metric=o["metric"], sampled=o["sampled"],
                        patience=o["patience"], min_delta=o["min_delta"],
                        eval_every=o["eval_every"]),
        data=data).validate()
    asked = ks if ks is not None else base.evaluation.get("ks", default_of(EvalProtocol, "ks"))
    asked = [asked] if isinstance(asked, int) else list(asked)
    added = [k for k in spec.evaluation["ks"] if k not in asked]
    if added and echo:
        echo(f"note: --metric {spec.evaluation['metric']} selects on a cut-off --ks did not "
             f"list; computing K={added[0]} as well (--ks "
             f"{','.join(map(str, spec.evaluation['ks']))})")
    return spec


def _has_data(config: str) -> bool:
    try:
        with open(config, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return True  # unreadable: RunSpec.from_file has said why
    raw = raw.get("spec", raw) if isinstance(raw, dict) and "format" not in raw else raw
    return isinstance(raw, dict) and isinstance(raw.get("data"), dict)


def list_protocols() -> str:
    from gnnrec.protocols import describe

    flags = {path: setting_flag(path) for p in PROTOCOLS.values() for path in p.settings}
    return "\n".join(describe(name, flags) for name in PROTOCOLS)


def load_model(session, checkpoint, device):
    from gnnrec.model import RecModel
    from gnnrec.run import resolve_device

    model = RecModel.load(checkpoint, map_location=resolve_device(device))
    session.echo(f"{checkpoint}: {model.spec()['name']} at epoch {model.meta.get('epoch')}, "
                 f"{model.num_users} users, {model.num_items} items")
    return model


def split_names(text: str, registry, what: str, param: str):
    r"""Comma-separated registry names; an unknown one names ``param``."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in registry:
            detail = f"unknown {what} {n!r}; choose from {', '.join(registry)}"
            raise GnnrecError(f"{param}: {detail}", param=param, detail=detail)
    if not names:
        raise GnnrecError(f"{param}: give at least one name", param=param,
                          detail="give at least one name")
    return names


#: the one --device option of every command that computes
device_option = click.option("--device", default="auto", show_default=True,
                             help="cpu, cuda, cuda:N or auto (cuda when available).")
