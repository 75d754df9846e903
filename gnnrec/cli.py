"""The ``gnnrec`` command line: parse options, build through the run spec,
print. Logic lives in the library; this module maps its errors to flags."""
import json
import os
import shutil
import sys
import traceback
from typing import Dict, Optional

import click

from gnnrec.serving import INDEX_TYPES
from gnnrec.errors import GnnrecError, write_failure
from gnnrec.losses import LOSSES
from gnnrec.nn import MODELS
from gnnrec.registry import default_of, describe_options, first_line
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.nn.scorers import SCORERS
from gnnrec.protocols import PROTOCOLS
from gnnrec.sampling import SAMPLERS
from gnnrec.spec import DEFAULT_SAMPLER
from gnnrec.train.batching import BATCHINGS
from gnnrec.train.callbacks import EarlyStopping, Evaluate
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Trainer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
ENCODER_ARGS = ("num_users", "num_items")
#: the one map from library names to flags: a run-spec path (``section.key``) or a
#: parameter name -> the click parameter that sets it, where that is not the name's
#: last part (used for error messages, protocol notes and resume notes alike)
FLAGS = {"objective.reg_weight": "reg", "reg_weight": "reg",
         "model.embedding_dim": "dim", "embedding_dim": "dim",
         "model.num_layers": "layers", "num_layers": "layers",
         "evaluation.eval_every": "eval_every", "every": "eval_every",
         "data.seed": "data_seed", "trainer.seed": "seed", "data.path": "path",
         "data.options": "data_opt", "opt": "opts"}
BUG_HINT = ("this is a bug in gnnrec; please report it with the command you ran "
            "(GNNREC_DEBUG=1 shows the traceback)")


class UserError(click.ClickException):
    """A user mistake: one line on stderr, exit status 2."""
    exit_code = 2


def _option(command: Optional[click.Command], name: Optional[str]) -> Optional[str]:
    """The flag of the click parameter ``name`` of ``command`` (or of its
    subcommands), or ``None``."""
    if command is None or not name:
        return None
    commands = [command] + list(getattr(command, "commands", {}).values())
    for cmd in commands:  # a group's own options first, then its subcommands'
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name == name:
                return max(p.opts, key=len)
    return None


def flag_for(command: Optional[click.Command], param: Optional[str],
             path: Optional[str] = None) -> Optional[str]:
    r"""The command's flag for a library name: a run-spec path first
    (``data.seed`` -> ``--data-seed``, ``model.embedding_dim`` -> ``--dim``),
    then a parameter name (``epochs`` -> ``--epochs``, ``sampler options`` ->
    ``--sampler-opt``), through :data:`FLAGS`; ``None`` if the command has
    no such flag."""
    if path:
        flag = _option(command, FLAGS.get(path, path.rpartition(".")[2]))
        if flag:
            return flag
    if not param:
        return None
    for name in (FLAGS.get(param), param, param.replace(" options", "_opt")):
        flag = _option(command, name)
        if flag:
            return flag
    return None


def user_message(error: GnnrecError, command: Optional[click.Command]) -> str:
    path = getattr(error, "path", None)
    flag = flag_for(command, None, path) if path else None
    if flag and error.detail:
        option = path.rpartition(".")[2]
        detail = error.detail
        if error.param and error.param.endswith(" options") and detail.startswith(option):
            detail = detail[len(option):].lstrip()  # "embedding_dim must ..." -> "must ..."
        return f"{flag} {detail}"
    flag = flag_for(command, error.param)
    if flag and error.detail:
        return f"{flag} {error.detail}"
    return str(error)


class Group(click.Group):
    """Maps every failure to one line: user mistakes exit 2, bugs exit 1."""

    def invoke(self, ctx):
        from gnnrec.train.trainer import TrainingStopped

        try:
            return super().invoke(ctx)
        except GnnrecError as e:
            name = ctx.invoked_subcommand
            command = self.get_command(ctx, name) if name else None
            raise UserError(user_message(e, command)) from None
        except TrainingStopped as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # the machine refusing a write no gnnrec code path caught
            failed = write_failure(e, e.filename or "a file")
            if failed is None:
                raise click.ClickException(f"{type(e).__name__}: {e} ({BUG_HINT})") from None
            raise UserError(str(failed)) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # an unexpected failure: short, with where to report it
            if os.environ.get("GNNREC_DEBUG"):
                traceback.print_exc()
            raise click.ClickException(f"{type(e).__name__}: {e} ({BUG_HINT})") from None


class Session:
    r"""The one context object: how to talk to the user. Progress and notes
    go to stderr (silenced by ``--quiet``); results go to stdout."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def echo(self, msg: str = "") -> None:
        if not self.quiet:
            click.echo(msg, err=True)

    def progress(self, flag: Optional[bool]) -> bool:
        return (sys.stderr.isatty() and not self.quiet) if flag is None else flag


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


# --------------------------------------------------------------------------- data options

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


# --------------------------------------------------------------------------- group

@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(package_name="gnnrec")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.pass_context
def cli(ctx, quiet):
    """gnnrec: graph-neural recommenders (MF, LightGCN, NGCF) with negative
    sampling, full-ranking evaluation and embeddings for downstream PyG use.

    \b
    gnnrec train --model lightgcn --sampler rns      # bundled Gowalla sample
    gnnrec show runs/lightgcn-rns-bpr
    gnnrec evaluate runs/lightgcn-rns-bpr/best.pt
    gnnrec recommend runs/lightgcn-rns-bpr/best.pt --user 19 -k 10
    gnnrec export runs/lightgcn-rns-bpr/best.pt emb.npy
    gnnrec data --dataset ../shared/data/gowalla

    On Linux (glibc), memory freed during a run stays with the process
    instead of being returned and faulted in again every step (faster, steadier
    CPU steps; GNNREC_KEEP_FREED=0 turns it off; see gnnrec.allocator).
    """
    from gnnrec.allocator import keep_freed_memory

    keep_freed_memory()
    ctx.obj = Session(quiet)


def component_help(registry, skip=()) -> str:
    lines = []
    for name, cls in registry.items():
        lines.append(f"{name}: {first_line(cls)}")
        for opt, default, text in describe_options(cls, skip):
            lines.append(f"    {opt}={default}  {text}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- train

def _spec_default(role):
    from gnnrec.spec import RunSpec

    return getattr(RunSpec(), role).name


SPEC_KEYS = ("config", "protocol", "model", "sampler", "loss", "dim", "layers", "model_opt",
             "sampler_opt", "loss_opt", "epochs", "batch_size", "lr", "reg", "batching", "seed",
             "ks", "metric", "sampled", "patience", "eval_every")


def spec_options(f):
    r"""The options that make a run spec (and the data options), shared by
    ``train`` and ``tune``."""
    opts = [
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
        click.option("--epochs", type=int, default=None,
                     help="Maximum epochs (early stopping may end sooner). "
                          f"[default: {default_of(Trainer, 'epochs')}]"),
        click.option("--batch-size", type=int, default=None, help="Interactions per step. "
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
        click.option("--eval-every", "eval_every", type=int, default=None,
                     help="Evaluate on validation every N epochs. "
                          f"[default: {default_of(Evaluate, 'every')}]"),
    ]
    f = dataset_options(f)
    for opt in reversed(opts):
        f = opt(f)
    return f


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
                                                      "eval_every")},
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
                        patience=o["patience"], eval_every=o["eval_every"]),
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


@cli.command(context_settings=CONTEXT)
@spec_options
@click.option("--out", "run_dir", type=click.Path(), default=None,
              help="Run folder for config.json, last.pt, best.pt, log.jsonl, results.json. "
                   "[default: runs/<model>-<sampler>-<loss>]")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last.pt with the spec in its "
                   "config.json (data included); only --epochs, --lr and --patience may be "
                   "changed, and changes are noted.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--refit", is_flag=True,
              help="After the epoch is chosen on validation (test is not read), retrain on "
                   "train + validation for that many epochs with the same seed and options, "
                   "in RUN/refit, and test that model once: a validation-selected result "
                   "comparable to ones trained on all the training data. The table and "
                   "results.json say the test numbers are the refit's.")
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, cuda:N or auto (cuda when available).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar per epoch. [default: on a terminal]")
@click.option("--distributed", is_flag=True,
              help="Data-parallel training: launch with torchrun --nproc_per_node=N -m gnnrec "
                   "train ... (which runs this data-parallel by itself). Every process takes a "
                   "disjoint shard of each global batch (--batch-size is the global batch) and "
                   "the gradients are averaged (NCCL on CUDA, one GPU per process; gloo on "
                   "CPU); in-batch losses contrast a row with its own process's shard (with "
                   "--loss-opt gather=true, ssm contrasts it with the global batch); process "
                   "0 alone evaluates, logs and writes the run folder, which resumes on any "
                   "number of processes.")
@click.option("--list-options", is_flag=True,
              help="List every model, sampler and loss with its options, then exit.")
@click.option("--list-protocols", "list_protocols_", is_flag=True,
              help="List the paper protocols --protocol presets (what each sets, where it "
                   "comes from, what the paper reports), then exit.")
@click.option("--help-sampler", is_flag=True,
              help="Show the options of the chosen --sampler (and --loss), then exit.")
@click.pass_obj
def train(session, run_dir, resume, overwrite, refit, device, progress, distributed, list_options,
          list_protocols_, help_sampler, **kwargs):
    r"""Train a model, select its best epoch on validation, test it.

    The bundled 10-core Gowalla sample is used when no --dataset is given;
    datasets that ship only train/test get a validation share carved out of
    train (model selection never looks at the test set). The final table
    compares the best epoch with a most-popular baseline on the test set.
    A model trained with a cosine or modulated scorer is evaluated with it.
    """
    from gnnrec.metrics.protocol import format_report
    from gnnrec.outputs import RunFolderWriter
    from gnnrec.run import resolve_device

    if list_protocols_:
        click.echo(list_protocols())
        return
    if list_options:
        click.echo("models:\n" + component_help(MODELS, ENCODER_ARGS))
        click.echo("samplers:\n" + component_help(SAMPLERS))
        click.echo("losses:\n" + component_help(LOSSES))
        return
    if help_sampler:
        name = kwargs["sampler"] or DEFAULT_SAMPLER
        loss = kwargs["loss"] or _spec_default("loss")
        click.echo("sampler " + component_help({name: SAMPLERS[name]}))
        click.echo("loss " + component_help({loss: LOSSES[loss]}))
        click.echo("set them with --sampler-opt KEY=VALUE / --loss-opt KEY=VALUE")
        return
    config = None
    if resume:
        if run_dir is None:
            raise GnnrecError("--resume needs --out RUN (the run folder to continue)")
        config = kwargs["config"] or os.path.join(run_dir, "config.json")
        if not os.path.exists(config):
            raise GnnrecError(f"{run_dir}: nothing to resume (no config.json)")
    import gnnrec.distributed as ddp

    spec = build_spec(kwargs, config, session.echo)
    ctx = ddp.require() if distributed else ddp.from_env()
    if refit and ctx:
        raise GnnrecError("--refit runs in one process; train data-parallel without it, then "
                          "refit with gnnrec train --config RUN/config.json --val-frac 0 "
                          "--epochs <best epoch>")
    if refit and spec.data.val_frac <= 0 and spec.data.split not in ("given", "auto"):
        raise GnnrecError("--refit retrains for the epoch chosen on validation: set "
                          "--val-frac > 0")
    dev = ddp.device_for(ctx, device) if ctx else resolve_device(device)
    if ctx and not ctx.main:
        session.quiet = True  # process 0 speaks for the job
    run_dir = run_dir or os.path.join("runs", spec.label)
    folder = run_dir
    if ctx is None or ctx.main:  # locked and checked before any data is read
        folder = RunFolderWriter(run_dir, resume=resume, overwrite=overwrite)
    try:
        results = _train(session, spec, folder, dev, resume, refit, progress, ctx)
    finally:
        if not isinstance(folder, str):
            folder.close()
    if results is None:
        return
    if refit:
        r = results["refit"]
        session.echo(f"selected on validation: epoch {results['best_epoch']} "
                     f"(val {results['metric']} {results['best_val']:.4f})")
        click.echo(format_report(r, f", REFIT on train + validation for {r['epochs']} epochs"))
    else:
        click.echo(format_report(results, f", best epoch {results['best_epoch']}"))
    session.echo(f"run saved in {run_dir}")


def _train(session, spec, folder, dev, resume, refit, progress, ctx):
    import gnnrec.distributed as ddp
    from gnnrec.refit import train_and_refit
    from gnnrec.run import RunWriteFailed, train_run

    run_dir = getattr(folder, "final", folder)
    clean = False
    try:
        dataset = load(session, spec.data, spec.protocol)
        if ctx:
            ddp.init(ctx, dev)
        if refit:
            results = train_and_refit(spec, dataset, folder, device=dev, resume=resume,
                                      progress=session.progress(progress), echo=session.echo)
        else:
            results = train_run(spec, dataset, folder, device=dev, resume=resume,
                                progress=session.progress(progress), echo=session.echo,
                                dist=ctx)
        clean = True
        return results
    except KeyboardInterrupt:
        if getattr(folder, "staged", False):
            click.echo(f"\ninterrupted before the new run's first epoch: {run_dir} still holds "
                       "the previous run, unchanged", err=True)
        else:
            click.echo(f"\ninterrupted: {run_dir}/last.pt holds the last completed epoch; "
                       f"continue with: gnnrec train --out {run_dir} --resume", err=True)
        sys.exit(130)
    except RunWriteFailed as e:
        raise GnnrecError(f"{e}; free space and resume with: gnnrec train --out {e.run_dir} "
                          "--resume") from None
    except RuntimeError as e:
        if ctx and ddp.peer_lost(e):
            raise GnnrecError(f"process {ctx.rank}: another process of this torchrun job "
                              f"stopped; {run_dir} is intact up to its last complete epoch and "
                              "resumes on any number of processes, one included: gnnrec train "
                              f"--out {run_dir} --resume") from None
        raise
    except BaseException:
        if not isinstance(folder, str) and not folder.begun:
            folder.abort()  # refused before anything was written: leave no folder behind
        raise
    finally:
        if ctx:
            ddp.close(clean)


# --------------------------------------------------------------------------- tune

@cli.command(context_settings=CONTEXT)
@spec_options
@click.option("--space", "space", multiple=True, metavar="NAME.KEY=RANGE",
              help="A searched option, repeatable: NAME.KEY=LOW:HIGH (uniform; integers when "
                   "both bounds are), NAME.KEY=LOW:HIGH:log, or NAME.KEY=A,B,C (values). NAME is "
                   "the run's model, sampler or loss, or trainer / objective (e.g. "
                   "ahns.beta=0.1:1.0, trainer.lr=1e-4:1e-2:log, dns.num_candidates=4,8,16).")
@click.option("--trials", type=int, default=20, show_default=True,
              help="Finished trials (completed or pruned) to run in all, counting those of an "
                   "earlier, interrupted search in --out.")
@click.option("--search", type=click.Choice(["tpe", "grid", "random"]), default="tpe",
              show_default=True, help="Optuna sampler: TPE, grid (listed values only) or "
                                      "random.")
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Stop a trial whose validation curve falls below the median of earlier "
                   "trials at the same epoch (Optuna's MedianPruner, after 3 trials and the "
                   "first quarter of the epochs).")
@click.option("--search-seed", type=int, default=0, show_default=True,
              help="Seed of the search (the trials' own seed is --seed).")
@click.option("--out", "out", type=click.Path(), required=True,
              help="Study folder: study.db (resumable), trial-NNNN/ run folders, best.json "
                   "(the winning spec, for train --config) and results.json.")
@click.option("--refit", is_flag=True,
              help="Test the chosen configuration after retraining it on train + validation "
                   "for its best epoch (in OUT/refit), instead of testing its trial's model.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--progress/--no-progress", default=False, show_default=True,
              help="Progress bar per epoch of each trial.")
@click.pass_obj
def tune(session, space, trials, search, prune, search_seed, out, refit, device, progress,
         **kwargs):
    r"""Search hyper-parameters on the validation split (Optuna).

    Every trial trains an ordinary run folder from the spec given by the
    other options with the trial's values, and scores its best validation
    --metric; the study is an SQLite file in --out, so Ctrl-C and a rerun of
    the same command resume it without repeating finished trials. Only the
    chosen configuration is then evaluated on the test set.
    """
    from gnnrec.lock import LOCK_NAME, OutputLock
    from gnnrec.outputs import check_folder
    from gnnrec.run import resolve_device
    from gnnrec.tune import check_tune, format_tune, parse_space
    from gnnrec.tune import tune as run_tune

    spec = build_spec(kwargs, echo=session.echo)
    dims = parse_space(space, spec)
    check_tune(spec, dims, None, trials, search, search_seed)
    resolve_device(device)
    check_folder(out, "study folder")  # refused before any data is read
    created = not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    lock = OutputLock.for_folder(out)
    try:
        lock.acquire()
        dataset = load(session, spec.data, spec.protocol)
        results = run_tune(spec, dims, dataset, out, trials, search=search, prune=prune,
                           device=device, seed=search_seed, echo=click.echo,
                           progress=session.progress(progress), refit=refit, locked=True)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: the study in {out} resumes with the same command", err=True)
        sys.exit(130)
    except BaseException:
        if created and lock.held and set(os.listdir(out)) <= {LOCK_NAME}:
            shutil.rmtree(out, ignore_errors=True)  # a start that failed leaves nothing
        raise
    finally:
        lock.release()
    click.echo(format_tune(results))
    session.echo(f"rerun the winner with: gnnrec train --config {out}/best.json")


# --------------------------------------------------------------------------- show

@cli.command(context_settings=CONTEXT)
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--plot", "plot_path", type=click.Path(), default=None,
              help="Also draw loss, validation metric and negative hardness per epoch into "
                   "this PNG (needs matplotlib: pip install gnnrec[plot]).")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")
@click.pass_obj
def show(session, runs, plot_path, as_json):
    r"""What a run folder holds, for a person: the resolved spec, how far it
    got, the best epoch with its validation and test metrics, and timing.
    With several runs, a table of them side by side."""
    from gnnrec.runfolder import describe, plot, read_runs, table

    folders, errors = read_runs(list(runs))
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    if folders:
        if as_json:
            click.echo(json.dumps([f.summary() for f in folders], indent=2))
        elif len(folders) == 1 and len(runs) == 1:
            click.echo(describe(folders[0]))
        else:
            click.echo(table(folders))
        if plot_path:
            session.echo(f"wrote {plot(folders, plot_path)}")
    if errors:
        sys.exit(2)


# --------------------------------------------------------------------------- evaluate

def load_model(session, checkpoint, device):
    from gnnrec.model import RecModel
    from gnnrec.run import resolve_device

    model = RecModel.load(checkpoint, map_location=resolve_device(device))
    session.echo(f"{checkpoint}: {model.spec()['name']} at epoch {model.meta.get('epoch')}, "
                 f"{model.num_users} users, {model.num_items} items")
    return model


@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@dataset_options
@click.option("--on", "fold", type=click.Choice(["test", "val", "test_balanced"]),
              default="test", show_default=True,
              help="Which held-out split to rank (test_balanced: --split popbalanced's).")
@click.option("--groups", is_flag=True,
              help="Also report head / mid / tail item groups (each a third of the training "
                   "interactions, most popular first).")
@click.option("--ks", default=None,
              help="Comma-separated cut-offs. [default: the run's own --ks]")
@click.option("--sampled", type=int, default=None,
              help="Also rank each test item against N random items the user never had "
                   "(sampled HR/NDCG); 0 off. [default: as the run was trained]")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def evaluate(session, checkpoint, fold, groups, ks, sampled, as_json, device, **data_kwargs):
    r"""Full-ranking metrics of a checkpoint on a held-out split, and what its
    top-K lists expose (share per popularity group, average popularity,
    coverage).

    Without dataset options, the data the run was trained on is read again as
    recorded in the checkpoint. A checkpoint trained on other data is refused.
    Every known interaction other than the target is masked (training items;
    for a test split also validation and the other test split). The model
    ranks with the scorer it was trained with.
    """
    from dataclasses import asdict

    from gnnrec.data.loading import DataSpec, load_dataset
    from gnnrec.metrics import most_popular
    from gnnrec.metrics.protocol import EvalProtocol, format_report

    model = load_model(session, checkpoint, device)
    saved = model.meta.get("spec", {}).get("data") or model.meta.get("data") or {}
    data = DataSpec(**{**asdict(DataSpec(**saved)), **data_changes(data_kwargs)})
    dataset = load_dataset(data, echo=session.echo)
    model.check_dataset(dataset)
    trained = model.meta.get("spec", {}).get("evaluation", {})
    if sampled is None:
        sampled = trained.get("sampled", 0)
    cutoffs = parse_ks(ks) if ks is not None else trained.get("ks")  # None: the protocol's
    protocol = EvalProtocol.from_dataset(dataset, model.device, sampled=sampled,
                                         **({"ks": cutoffs} if cutoffs else {}))
    score_fn = model.ranker()
    report = {"ks": protocol.ks, fold: protocol.evaluate(score_fn, fold, views=True),
              f"mostpop_{fold}": protocol.baseline(fold, views=True)}
    if groups:
        report[f"{fold}_groups"] = protocol.groups(score_fn, fold)
    if sampled:
        report[f"sampled_{fold}"] = protocol.evaluate_sampled(score_fn, fold)
        report[f"mostpop_sampled_{fold}"] = protocol.evaluate_sampled(
            most_popular(protocol.item_degree), fold)
    if as_json:
        out = {"split": fold, "model": report[fold], "mostpop": report[f"mostpop_{fold}"],
               "groups": report.get(f"{fold}_groups", {})}
        if sampled:
            out.update(sampled=report[f"sampled_{fold}"],
                       mostpop_sampled=report[f"mostpop_sampled_{fold}"])
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(format_report(report))


# --------------------------------------------------------------------------- recommend

@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(), required=False)
@click.option("--index", "index", type=click.Path(), default=None,
              help="Answer from a FAISS index written by export --format faiss instead of a "
                   "checkpoint (no model is loaded).")
@click.option("--user", "users", multiple=True, help="A user id as in your data; repeatable.")
@click.option("--users-file", type=click.File(), default=None,
              help="A file of user ids, one per line.")
@click.option("-k", "k", type=int, default=10, show_default=True,
              help="Items per user (fewer when the user has not that many unseen items).")
@click.option("--include-seen", is_flag=True,
              help="Also recommend items the user has in training.")
@click.option("--skip-unknown", is_flag=True,
              help="Report user ids the model does not know and answer the others (without "
                   "it, an unknown id is an error).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="Output format.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def recommend(session, checkpoint, index, users, users_file, k, include_seen, skip_unknown,
              fmt, device):
    r"""Top-k items for users, in the user and item ids of your data.

    Items the user already has in training are left out unless
    --include-seen is given; a user then gets at most its number of unseen
    items. User and item ids are printed with the type they have in the
    data (numbers stay numbers in JSON).
    """
    if k < 1:
        raise GnnrecError(f"k must be >= 1, got {k}", param="k", detail=f"must be >= 1, got {k}")
    ids = list(users)
    if users_file is not None:
        ids += [ln.strip() for ln in users_file if ln.strip()]
    if not ids:
        raise GnnrecError("give users with --user ID (repeatable) or --users-file FILE")
    if (checkpoint is None) == (index is None):
        raise GnnrecError("give a CHECKPOINT or --index FILE (one of them)")
    if index is not None:
        from gnnrec.serving import IndexRecommender

        model = IndexRecommender(index)
    else:
        model = load_model(session, checkpoint, device)
    known = model.known_users(ids)
    if not all(known) and not skip_unknown:
        bad = [u for u, ok in zip(ids, known) if not ok]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise GnnrecError(f"unknown user {bad[0]}{more}; --skip-unknown answers the known ones")
    items, scores = model.recommend(ids, k=k, exclude_seen=not include_seen, skip_unknown=True)
    found = model.users.find(ids)
    canon = [_py(model.users[i]) if i >= 0 else u for u, i in zip(ids, found)]
    for u, ok in zip(ids, known):
        if not ok:
            session.echo(f"unknown user {u}: skipped")
    for u, it, ok in zip(canon, items, known):
        if ok and len(it) < k:
            session.echo(f"user {u}: only {len(it)} item(s) it has not seen")
    rows = [(u, it, sc) for u, it, sc, ok in zip(canon, items, scores, known) if ok]
    if fmt == "json":
        click.echo(json.dumps([{"user": u, "items": [_py(x) for x in it],
                                "scores": [round(float(s), 6) for s in sc]}
                               for u, it, sc in rows], indent=2))
    elif fmt == "csv":
        click.echo("user,rank,item,score")
        for u, it, sc in rows:
            for r, (x, s) in enumerate(zip(it, sc), 1):
                click.echo(f"{u},{r},{x},{s:.6f}")
    else:
        for u, it, _ in rows:
            click.echo(f"{u}: {' '.join(str(x) for x in it)}")


def _py(x):
    return x.item() if hasattr(x, "item") else x


# --------------------------------------------------------------------------- export

@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@click.argument("output", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["auto", "pt", "npy", "pyg", "faiss"]),
              default="auto", show_default=True,
              help="auto: from OUTPUT's ending (.pyg.pt pyg, .pt, .npy, .faiss).")
@click.option("--index-type", type=click.Choice(list(INDEX_TYPES)), default="flat",
              show_default=True,
              help="faiss: exact inner product (flat); HNSW (approximate, faster on large "
                   "item sets) over the inner-product-to-L2 reduction (hnsw), or searched by "
                   "inner product directly (hnsw-ip, lower recall).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def export(session, checkpoint, output, fmt, index_type, overwrite, device):
    """Write the embeddings for other pipelines and serving.

    \b
    pt     one file: a dict with user_emb, item_emb, user_ids, item_ids
    npy    <stem>.users.npy, <stem>.items.npy, <stem>.user_ids.npy,
           <stem>.item_ids.npy (row k of the embeddings is the k-th id)
    pyg    a PyG HeteroData: embeddings as x of user and item, training edges
           both ways, original ids as original_id;
           torch.load(path, weights_only=False) returns it
    faiss  an inner-product FAISS index of the item embeddings (cosine when
           the model ranks by cosine) and <OUTPUT>.npz with the user
           embeddings and id maps; gnnrec recommend --index answers from it
           (needs pip install gnnrec[serve])

    Existing files are left alone unless --overwrite; the checkpoint is
    never written over.
    """
    from gnnrec.outputs import check_targets, holding

    if fmt == "auto":
        fmt = next((f for end, f in ((".pyg.pt", "pyg"), (".pt", "pt"), (".npy", "npy"),
                                     (".faiss", "faiss")) if output.endswith(end)), None)
        if fmt is None:
            raise GnnrecError(f"{output}: give --format, or end OUTPUT in .pt, .npy, .pyg.pt "
                              "or .faiss")
    for name, end in (("npy", ".npy"), ("pt", ".pt")):
        if fmt == name and not output.endswith(end):
            raise GnnrecError(f"{output}: the {name} format needs OUTPUT ending in {end}")
    npy = [f"{output[:-4]}.{k}.npy" for k in ("users", "items", "user_ids", "item_ids")]
    targets = {"pt": [output], "pyg": [output], "faiss": [output, output + ".npz"],
               "npy": npy}[fmt]
    check_targets(targets, overwrite, inputs=[checkpoint])  # before loading anything
    if fmt == "faiss":
        from gnnrec.serving import _faiss

        _faiss()  # the extra is installed, or one line saying how
    with holding(targets):
        _export(session, checkpoint, output, fmt, index_type, overwrite, device)


def _export(session, checkpoint, output, fmt, index_type, overwrite, device):
    model = load_model(session, checkpoint, device)
    if fmt in ("pt", "npy"):
        written = model.export(output, overwrite=overwrite, inputs=[checkpoint])
    elif fmt == "pyg":
        from gnnrec.serving import export_pyg

        written = {"heterodata": export_pyg(model, output, overwrite, [checkpoint])}
    else:
        from gnnrec.serving import export_faiss

        written = export_faiss(model, output, index_type, overwrite, [checkpoint])
    for key, path in written.items():
        click.echo(f"{key}: {path}")


# --------------------------------------------------------------------------- data

class DataGroup(click.Group):
    """``gnnrec data [options]`` inspects; ``gnnrec data synth`` generates."""

    def format_usage(self, ctx, formatter):
        formatter.write_usage(ctx.command_path, "[OPTIONS] | synth [OPTIONS]")


@cli.group(cls=DataGroup, context_settings=CONTEXT, invoke_without_command=True)
@dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--save", type=click.Path(), default=None,
              help="Also write the split as a LightGCN folder (train.txt, val.txt, test.txt "
                   "over contiguous ids, plus user_list.txt / item_list.txt mapping them to "
                   "the original ids). Existing files are left alone unless --overwrite; the "
                   "input's own files never.")
@click.option("--overwrite", is_flag=True, help="Replace existing files in --save.")
@click.pass_context
def data(ctx, as_json, save, overwrite, **data_kwargs):
    r"""Inspect (and optionally prepare) a dataset: sizes, density, split
    sizes and degree quantiles of the training graph. "gnnrec data synth"
    generates synthetic timestamped interactions instead."""
    if ctx.invoked_subcommand is not None:
        return
    session = ctx.obj
    from gnnrec.data.loading import DataSpec, input_files
    from gnnrec.data.writers import lightgcn_files
    from gnnrec.outputs import check_folder, check_targets, holding

    spec = DataSpec(**data_changes(data_kwargs))
    targets = lightgcn_files(save) if save else []
    if save:  # refused before any data is read
        check_folder(save, "--save folder")
        check_targets(targets, overwrite, inputs=input_files(spec))
    with holding(folders=[save] if save else []):
        _data(session, spec, as_json, save, overwrite)


def _data(session, spec, as_json, save, overwrite):
    from gnnrec.data.loading import input_files, load_dataset
    from gnnrec.data.writers import write_lightgcn

    ds = load_dataset(spec, echo=session.echo)
    st = ds.stats()
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        click.echo(f"dataset       {st['name']}")
        click.echo(f"users         {st['users']}")
        click.echo(f"items         {st['items']}")
        click.echo(f"interactions  {st['interactions']} (train {st['train_interactions']}, "
                   f"val {st['val_interactions']}, test {st['test_interactions']})")
        click.echo(f"density       {st['density']:.6f}")
        for side in ("user", "item"):
            q = st[f"{side}_train_degree_quantiles"]
            click.echo(f"{side} degree   " + "  ".join(f"{k} {v:g}" for k, v in q.items()))
        for note in st["notes"]:
            click.echo(f"note          {note}")
    if save:
        for path in write_lightgcn(ds, save, overwrite=overwrite, inputs=input_files(spec)):
            session.echo(f"wrote {path}")


@data.command(context_settings=CONTEXT)
@click.option("--users", type=int, default=1000, show_default=True, help="Users.")
@click.option("--items", type=int, default=500, show_default=True, help="Items.")
@click.option("--interactions", type=int, default=20000, show_default=True,
              help="Interactions drawn (repeated user-item pairs included; readers keep one).")
@click.option("--item-exponent", type=float, default=1.0, show_default=True,
              help="Zipf exponent of item popularity.")
@click.option("--user-exponent", type=float, default=1.0, show_default=True,
              help="Zipf exponent of user activity (each user gets at least 3).")
@click.option("--concentration", type=float, default=2.0, show_default=True,
              help="How strongly a user's taste picks items near it on the circle of topics.")
@click.option("--drift", type=float, default=1.0, show_default=True,
              help="How far users' tastes move over time (std. of the angle moved).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
@click.option("--out", "out", type=click.Path(), required=True,
              help="The CSV to write (user,item,timestamp); train on it with --dataset FILE "
                   "(its columns, timestamps included, are found by name).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.pass_obj
def synth(session, users, items, interactions, item_exponent, user_exponent, concentration,
          drift, seed, out, overwrite):
    r"""Synthetic timestamped interactions: power-law item popularity and
    user activity, user tastes drifting over time (gnnrec.data.synthetic).
    For tests, smoke runs and the temporal / leave-one-out protocols; label
    figures obtained on it as synthetic."""
    from gnnrec.outputs import check_targets, holding

    check_targets([out], overwrite)
    with holding([out]):
        _synth(session, users, items, interactions, item_exponent, user_exponent, concentration,
               drift, seed, out, overwrite)


def _synth(session, users, items, interactions, item_exponent, user_exponent, concentration,
           drift, seed, out, overwrite):
    from gnnrec.data.synthetic import popularity_exponent, synthesize
    from gnnrec.outputs import write_files

    d = synthesize(users, items, interactions, item_exponent, user_exponent, concentration,
                   drift, seed)
    lines = ["user,item,timestamp"] + [f"{u},{i},{t:.6f}" for u, i, t in
                                       zip(d["user"].tolist(), d["item"].tolist(),
                                           d["timestamp"].tolist())]
    text = "\n".join(lines) + "\n"
    write_files({out: lambda f: f.write(text.encode())}, overwrite)
    session.echo(f"wrote {out}: {len(d['user'])} interactions of {users} users and {items} items "
                 f"(item popularity exponent fitted {popularity_exponent(d['item']):.2f}, "
                 f"seed {seed})")


# --------------------------------------------------------------------------- bench

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


@cli.command(context_settings=CONTEXT)
@dataset_options
@click.option("--models", default="lightgcn", show_default=True, cls=Help,
              help=lambda: f"Comma-separated models ({', '.join(MODELS)}).")
@click.option("--samplers", default="rns", show_default=True, cls=Help,
              help=lambda: f"Comma-separated samplers ({', '.join(SAMPLERS)}).")
@click.option("--losses", default="bpr", show_default=True, cls=Help,
              help=lambda: f"Comma-separated losses ({', '.join(LOSSES)}); in-batch ones "
                           f"({in_batch_names()}) run once, without a sampler.")
@click.option("--opt", "opts", multiple=True, metavar="NAME.KEY=VALUE",
              help="An option of a named model, sampler or loss, e.g. dns.num_candidates=16; "
                   "repeatable.")
@click.option("--epochs", type=int, default=3, show_default=True,
              help="Timed rounds of every combination; the first is a warm-up.")
@click.option("--max-batches", type=int, default=None,
              help="Time only this many batches of each epoch (quick runs on big data).")
@click.option("--batch-size", type=int, default=None,
              help=f"Interactions per step. [default: {default_of(Trainer, 'batch_size')}]")
@click.option("--eval", "with_eval", is_flag=True,
              help="Also time full-ranking evaluation of the test split (validation when the "
                   "data has no test split) once per round.")
@click.option("--peer", type=click.Choice(["pyg"]), default=None,
              help="Also time PyG's own LightGCN trained as its example does, on the first "
                   "LightGCN combination's settings: --peer-batches batches, extrapolated to "
                   "an epoch and labelled so.")
@click.option("--peer-batches", type=int, default=5, show_default=True,
              help="Batches of the peer to time.")
@click.option("--output", type=click.Path(), default=None,
              help="Also write the results to FILE.json or FILE.csv (existing files are "
                   "replaced only with --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def bench(session, models, samplers, losses, opts, epochs, max_batches, batch_size, with_eval,
          peer, peer_batches, output, overwrite, device, as_json, **data_kwargs):
    """Per-epoch training time of models x samplers x losses, in one run,
    and where it goes.

    Epochs of all combinations are timed round-robin on the same graph and
    device (so a busy machine slows them alike); the median of the rounds
    after the first is reported, with its ratio to the first combination of
    the same model (first loss, first sampler). Nothing is saved.

    \b
    Columns: s/epoch and ratio; the phases of a step, summed over the epoch:
      propa  propagation forward (the encoder) and the batch's row gathers
      sampl  the negative sampler (candidates, scoring, selection)
      loss   the loss and the L2 term
      backw  the backward pass (the loss's and the propagation's)
      step   the optimiser step
    eval s (with --eval): one full-ranking evaluation; peak MB: peak resident
    memory of the process during the epoch on CPU (reset before each epoch on
    Linux), torch.cuda.max_memory_allocated on GPU; inter/s: training
    interactions per second. Phase times synchronise the GPU at every
    boundary, which slows a GPU step a little.
    """
    from gnnrec.bench import bench as run_bench
    from gnnrec.bench import format_bench, write_bench
    from gnnrec.data.graph import RecGraph
    from gnnrec.data.loading import DataSpec
    from gnnrec.metrics.protocol import EvalProtocol
    from gnnrec.outputs import check_targets
    from gnnrec.registry import parse_named_options
    from gnnrec.run import resolve_device
    from gnnrec.spec import SKIP, RunSpec

    options = parse_named_options(opts, {"model": MODELS, "sampler": SAMPLERS, "loss": LOSSES},
                                  skip=SKIP)
    if epochs < 2:
        raise GnnrecError(f"epochs must be >= 2 (the first round is a warm-up), got {epochs}",
                          param="epochs", detail=f"must be >= 2 (the first round is a warm-up), "
                                                 f"got {epochs}")
    for name, value in (("max_batches", max_batches), ("peer_batches", peer_batches)):
        if value is not None and value < 1:
            raise GnnrecError(f"{name} must be >= 1", param=name, detail=f"must be >= 1, got "
                                                                         f"{value}")
    if output:
        if not output.endswith((".json", ".csv")):
            raise GnnrecError(f"{output}: --output must end in .json or .csv")
        check_targets([output], overwrite)
    trainer = {"epochs": epochs} if batch_size is None else {"epochs": epochs,
                                                             "batch_size": batch_size}
    model_names = split_names(models, MODELS, "model", "models")
    if peer and "lightgcn" not in model_names:
        raise GnnrecError("--peer pyg times PyG's LightGCN: include lightgcn in --models")
    specs = RunSpec.grid(model_names, split_names(samplers, SAMPLERS, "sampler", "samplers"),
                         split_names(losses, LOSSES, "loss", "losses"), options, trainer=trainer)
    dev = resolve_device(device)
    dataset = load(session, DataSpec(**data_changes(data_kwargs)))
    graph = RecGraph.from_dataset(dataset, dev)
    protocol = EvalProtocol.from_dataset(dataset, dev) if with_eval else None
    results = run_bench(graph, specs, epochs, max_batches, protocol=protocol, peer=peer,
                        peer_batches=peer_batches, echo=session.echo)
    if output:
        write_bench(results, output, str(dev))
        session.echo(f"wrote {output}")
    if as_json:
        click.echo(json.dumps({"device": str(dev), "results": results}, indent=2))
    else:
        click.echo(format_bench(results))


def main(argv=None):
    """Console entry point."""
    cli.main(args=argv, prog_name="gnnrec")


if __name__ == "__main__":  # pragma: no cover
    main()
