"""The ``gnnrec`` command line: train, evaluate, recommend, export, data."""
import inspect
import json
import os
import sys
from typing import Dict, Optional

import click

from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.nn import MODELS
from gnnrec.registry import describe_options, first_line, parse_options, resolve
from gnnrec.sampling import SAMPLERS
from gnnrec.train.callbacks import EarlyStopping, Evaluate
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Trainer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
ENCODER_ARGS = ("num_users", "num_items")


class UserError(click.ClickException):
    """A user mistake: one line on stderr, exit status 2."""
    exit_code = 2


class Group(click.Group):
    def invoke(self, ctx):
        from gnnrec.train.trainer import TrainingStopped

        try:
            return super().invoke(ctx)
        except GnnrecError as e:
            raise UserError(str(e)) from None
        except TrainingStopped as e:
            raise click.ClickException(str(e)) from None


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


def default_of(fn, name: str):
    """The default of a parameter in a constructor or function signature."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    return inspect.signature(target).parameters[name].default


# --------------------------------------------------------------------------- data options

def dataset_options(f):
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
                     help=f"Input format; auto guesses from the path. [default: {d('format')}]"),
        click.option("--split", type=click.Choice(SPLITS), default=None,
                     help="given: the files' train/test; random: per-user random; temporal: "
                          "latest share of each user; loo: temporal leave-one-out; auto: given "
                          f"when a test file exists, else random. [default: {d('split')}]"),
        click.option("--test-frac", type=float, default=None,
                     help=f"Per-user test share (random/temporal). [default: {d('test_frac')}]"),
        click.option("--val-frac", type=float, default=None,
                     help="Per-user validation share; with --split given it is carved out of "
                          f"each user's training items. 0 disables. [default: {d('val_frac')}]"),
        click.option("--k-core", type=int, default=None,
                     help=f"Keep the k-core (users and items with >= k interactions); 0 keeps all. "
                          f"[default: {d('k_core')}]"),
        click.option("--min-rating", type=float, default=None,
                     help="Keep only ratings >= this as positives (MovieLens/CSV)."),
        click.option("--user-col", default=None, help=f"CSV user column. [default: {d('user_col')}]"),
        click.option("--item-col", default=None, help=f"CSV item column. [default: {d('item_col')}]"),
        click.option("--rating-col", default=None, help="CSV rating column (optional)."),
        click.option("--time-col", default=None,
                     help="CSV timestamp column (numeric; needed by temporal splits)."),
        click.option("--data-seed", "data_seed", type=int, default=None,
                     help=f"Seed of random splits. [default: {d('seed')}]"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def data_spec(kwargs: Dict):
    from gnnrec.data.loading import DataSpec

    keys = ("path", "format", "split", "test_frac", "val_frac", "k_core", "min_rating",
            "user_col", "item_col", "rating_col", "time_col")
    given = {k: kwargs.pop(k) for k in keys}
    seed = kwargs.pop("data_seed")
    if seed is not None:
        given["seed"] = seed
    return DataSpec(**{k: v for k, v in given.items() if v is not None})


def load(session: Session, spec):
    from gnnrec.data.loading import load_dataset

    ds = load_dataset(spec, echo=session.echo)
    session.echo(f"dataset {ds.name}: {ds.num_users} users, {ds.num_items} items, "
                 f"{len(ds.inter)} interactions")
    for note in ds.notes:
        session.echo(f"  note: {note}")
    return ds


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
    gnnrec evaluate runs/lightgcn-rns-bpr/best.pt
    gnnrec recommend runs/lightgcn-rns-bpr/best.pt --user 19 -k 10
    gnnrec export runs/lightgcn-rns-bpr/best.pt emb.npy
    gnnrec data --dataset ../shared/data/gowalla
    """
    ctx.obj = Session(quiet)


def _component_help(registry, skip=()) -> str:
    lines = []
    for name, cls in registry.items():
        lines.append(f"{name}: {first_line(cls)}")
        for opt, default, text in describe_options(cls, skip):
            lines.append(f"    {opt}={default}  {text}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- train

@cli.command(context_settings=CONTEXT)
@dataset_options
@click.option("--model", type=click.Choice(list(MODELS)), default="lightgcn", show_default=True,
              help="Encoder.")
@click.option("--sampler", type=click.Choice(list(SAMPLERS)), default=None,
              help="Negative sampler for losses with explicit negatives (see --list-options); "
                   "in-batch losses (dcl, hdccf, popdcl, ssm by default) take none. "
                   "[default: rns]")
@click.option("--loss", type=click.Choice(list(LOSSES)), default="bpr", show_default=True,
              help="Training loss.")
@click.option("--dim", type=int, default=None,
              help="Embedding size (model option embedding_dim). "
                   f"[default: {default_of(MODELS['lightgcn'], 'embedding_dim')}]")
@click.option("--layers", type=int, default=None,
              help="Propagation layers (LightGCN num_layers; NGCF layer_sizes = dim x layers). "
                   f"[default: {default_of(MODELS['lightgcn'], 'num_layers')}]")
@click.option("--model-opt", multiple=True, metavar="KEY=VALUE",
              help="Other encoder option, repeatable (see --list-options).")
@click.option("--sampler-opt", multiple=True, metavar="KEY=VALUE",
              help="Sampler option, repeatable (see --list-options).")
@click.option("--loss-opt", multiple=True, metavar="KEY=VALUE",
              help="Loss option, repeatable (see --list-options).")
@click.option("--epochs", type=int, default=None,
              help="Maximum epochs (early stopping may end sooner). "
                   f"[default: {default_of(Trainer, 'epochs')}]")
@click.option("--batch-size", type=int, default=None, help="Interactions per step. "
              f"[default: {default_of(Trainer, 'batch_size')}]")
@click.option("--lr", type=float, default=None, help="Adam learning rate. "
              f"[default: {default_of(Trainer, 'lr')}]")
@click.option("--reg", type=float, default=None,
              help="L2 weight on the batch's ego embeddings, lambda/2 * sum ||e0||^2 / B "
                   "(the LightGCN authors' form). "
                   f"[default: {default_of(Objective, 'reg_weight')}]")
@click.option("--batching", type=click.Choice(["edges", "users"]), default=None,
              help="edges: an epoch is one pass over the training interactions; users: draw "
                   "a user then one of its items |train| times (LightGCN's code). "
                   f"[default: {default_of(Trainer, 'batching')}]")
@click.option("--seed", type=int, default=None, help="Seed of initialisation, batches and "
              f"negatives. [default: {default_of(Trainer, 'seed')}]")
@click.option("--ks", default="20", show_default=True,
              help="Comma-separated cut-offs K for Recall/NDCG/Precision/HitRate/MRR@K.")
@click.option("--metric", default=None,
              help="Validation metric for model selection and early stopping, NAME@K. "
                   "[default: recall@<first K>]")
@click.option("--patience", type=int, default=None,
              help="Stop after this many evaluations without improvement; 0 never stops. "
                   f"[default: {default_of(EarlyStopping, 'patience')}]")
@click.option("--eval-every", type=int, default=None,
              help="Evaluate on validation every N epochs. "
              f"[default: {default_of(Evaluate, 'every')}]")
@click.option("--out", "run_dir", type=click.Path(), default=None,
              help="Run folder for config.json, last.pt, best.pt, log.jsonl, results.json. "
                   "[default: runs/<model>-<sampler>-<loss>]")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt "
                                             "(its saved options; --epochs may be raised).")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, cuda:N or auto (cuda when available).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar per epoch. [default: on a terminal]")
@click.option("--list-options", is_flag=True,
              help="List every model, sampler and loss with its options, then exit.")
@click.option("--help-sampler", is_flag=True,
              help="Show the options of the chosen --sampler (and --loss), then exit.")
@click.pass_obj
def train(session, model, sampler, loss, dim, layers, model_opt, sampler_opt, loss_opt, epochs,
          batch_size, lr, reg, batching, seed, ks, metric, patience, eval_every, run_dir,
          resume, overwrite, device, progress, list_options, help_sampler, **data_kwargs):
    r"""Train a model, select its best epoch on validation, test it.

    The bundled 10-core Gowalla sample is used when no --dataset is given;
    datasets that ship only train/test get a validation share carved out of
    train (model selection never looks at the test set). The final table
    compares the best epoch with a most-popular baseline on the test set.
    """
    if list_options:
        click.echo("models:\n" + _component_help(MODELS, ENCODER_ARGS))
        click.echo("samplers:\n" + _component_help(SAMPLERS))
        click.echo("losses:\n" + _component_help(LOSSES))
        return
    if help_sampler:
        name = sampler or "rns"
        click.echo("sampler " + _component_help({name: SAMPLERS[name]}))
        click.echo("loss " + _component_help({loss: LOSSES[loss]}))
        click.echo("set them with --sampler-opt KEY=VALUE / --loss-opt KEY=VALUE")
        return
    from gnnrec.metrics import parse_metric
    from gnnrec.train.experiment import format_results, train_run

    ks_list = _parse_ks(ks)
    monitor = repr(parse_metric(metric)) if metric else f"recall@{ks_list[0]}"
    model_options = parse_options(MODELS[model], model_opt, ENCODER_ARGS, "--model-opt")
    if dim is not None:
        model_options["embedding_dim"] = dim
    if layers is not None:
        if model == "ngcf":
            model_options["layer_sizes"] = [model_options.get("embedding_dim", 64)] * layers
        elif model == "lightgcn":
            model_options["num_layers"] = layers
        else:
            raise GnnrecError("--layers: model mf has no propagation layers")
    loss_options = parse_options(LOSSES[loss], loss_opt, (), "--loss-opt")
    needs_sampler = resolve(LOSSES, loss, what="loss", **loss_options).negatives == "sampler"
    if sampler is None and needs_sampler:
        sampler = "rns"
    if sampler is None and sampler_opt:
        raise GnnrecError(f"--sampler-opt: loss {loss} uses in-batch negatives, no sampler")
    config = {
        "model": model, "model_options": model_options, "sampler": sampler,
        "sampler_options": (parse_options(SAMPLERS[sampler], sampler_opt, (), "--sampler-opt")
                            if sampler else {}),
        "loss": loss, "loss_options": loss_options,
        "trainer": {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr,
                                          batching=batching, seed=seed).items() if v is not None},
        "reg": reg, "ks": ks_list, "monitor": monitor,
    }
    if patience is not None:
        config["patience"] = patience
    if eval_every is not None:
        config["eval_every"] = eval_every
    # fail on bad option values before reading any data
    from gnnrec.train.experiment import build_objective

    build_objective(config, 1, 2)
    Trainer.check_options(**config["trainer"])
    from gnnrec.train.experiment import resolve_device

    resolve_device(device)
    spec = data_spec(data_kwargs)
    dataset = load(session, spec)
    run_dir = run_dir or os.path.join("runs", f"{model}-{sampler or 'inbatch'}-{loss}")
    try:
        results = train_run(dataset, run_dir, config, device=device, resume=resume,
                            overwrite=overwrite, progress=session.progress(progress),
                            echo=session.echo)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {run_dir}/last.pt holds the last completed epoch; "
                   f"continue with: gnnrec train --out {run_dir} --resume", err=True)
        sys.exit(130)
    click.echo(format_results(results))
    session.echo(f"run saved in {run_dir}")


def _parse_ks(text: str):
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise GnnrecError(f"--ks {text!r}: expected comma-separated integers") from None
    if not ks or ks[0] < 1:
        raise GnnrecError(f"--ks {text!r}: cut-offs must be >= 1")
    return ks


# --------------------------------------------------------------------------- evaluate

def _load_model(session, checkpoint, device):
    from gnnrec.train.checkpoint import TrainedModel
    from gnnrec.train.experiment import resolve_device

    dev = resolve_device(device)
    model = TrainedModel.load(checkpoint, map_location=dev)
    session.echo(f"{checkpoint}: {model.meta['model_spec']['name']} at epoch "
                 f"{model.meta['epoch']}, {model.graph.num_users} users, "
                 f"{model.graph.num_items} items")
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
@click.option("--ks", default="10,20,50", show_default=True, help="Comma-separated cut-offs.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def evaluate(session, checkpoint, fold, groups, ks, as_json, device, **data_kwargs):
    r"""Full-ranking metrics of a checkpoint on a held-out split.

    Without --dataset, the data the run was trained on is read again as
    recorded in the checkpoint. A checkpoint trained on other data is refused.
    Every known interaction other than the target is masked (training items;
    for a test split also validation and the other test split).
    """
    from gnnrec.data.loading import DataSpec, load_dataset
    from gnnrec.data.dataset import masked_folds
    from gnnrec.metrics import FullRankingEvaluator, evaluate_groups, metric_grid, most_popular
    from gnnrec.train.experiment import METRIC_NAMES, split_sets

    ks_list = _parse_ks(ks)
    model = _load_model(session, checkpoint, device)
    given = {k: v for k, v in data_kwargs.items() if v is not None}
    if given:
        spec = data_spec(data_kwargs)
    else:
        spec = DataSpec(**model.meta["data"])
    dataset = load_dataset(spec)
    model.check_dataset(dataset)
    sets = split_sets(dataset, model.graph.device)
    if fold not in sets:
        raise GnnrecError(f"the dataset has no {fold} split")
    exclude = [sets[f] for f in masked_folds(fold) if f in sets]
    evaluator = FullRankingEvaluator(metric_grid(METRIC_NAMES, ks_list))
    score_fn = model.score_fn()
    res = evaluator.evaluate(score_fn, sets[fold], exclude)
    pop = evaluator.evaluate(most_popular(model.graph.item_degree), sets[fold], exclude)
    by_group = (evaluate_groups(evaluator, score_fn, sets[fold], exclude,
                                model.graph.item_degree) if groups else {})
    if as_json:
        click.echo(json.dumps({"split": fold, "model": res, "mostpop": pop, "groups": by_group},
                              indent=2))
        return
    click.echo(f"{fold} ({res['users']} users)")
    click.echo(f"  {'metric':<14}{'model':>10}{'MostPop':>10}"
               + "".join(f"{g:>10}" for g in by_group))
    for k in ks_list:
        for name in METRIC_NAMES:
            key = f"{name}@{k}"
            click.echo(f"  {key:<14}{res[key]:>10.4f}{pop[key]:>10.4f}"
                       + "".join(f"{g[key]:>10.4f}" for g in by_group.values()))


# --------------------------------------------------------------------------- recommend

@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@click.option("--user", "users", multiple=True, help="A user id as in your data; repeatable.")
@click.option("--users-file", type=click.File(), default=None,
              help="A file of user ids, one per line.")
@click.option("-k", "k", type=int, default=10, show_default=True, help="Items per user.")
@click.option("--include-seen", is_flag=True,
              help="Also recommend items the user has in training.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="Output format.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def recommend(session, checkpoint, users, users_file, k, include_seen, fmt, device):
    r"""Top-k items for users, in the user and item ids of your data.

    Items the user already has in training are left out unless
    --include-seen is given.
    """
    ids = list(users)
    if users_file is not None:
        ids += [ln.strip() for ln in users_file if ln.strip()]
    if not ids:
        raise GnnrecError("give users with --user ID (repeatable) or --users-file FILE")
    model = _load_model(session, checkpoint, device)
    items, scores = model.recommend(ids, k=k, exclude_seen=not include_seen)
    if fmt == "json":
        click.echo(json.dumps([{"user": u, "items": [_py(x) for x in it],
                                "scores": [round(float(s), 6) for s in sc]}
                               for u, it, sc in zip(ids, items, scores)], indent=2))
    elif fmt == "csv":
        click.echo("user,rank,item,score")
        for u, it, sc in zip(ids, items, scores):
            for r, (x, s) in enumerate(zip(it, sc), 1):
                click.echo(f"{u},{r},{x},{s:.6f}")
    else:
        for u, it in zip(ids, items):
            click.echo(f"{u}: {' '.join(str(x) for x in it)}")


def _py(x):
    return x.item() if hasattr(x, "item") else x


# --------------------------------------------------------------------------- export

@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@click.argument("output", type=click.Path())
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.pass_obj
def export(session, checkpoint, output, device):
    r"""Write user and item embeddings with their id maps.

    OUTPUT ending in .pt writes one file: a dict with user_emb, item_emb,
    user_ids, item_ids (torch.load). OUTPUT ending in .npy writes
    <stem>.users.npy, <stem>.items.npy, <stem>.user_ids.npy and
    <stem>.item_ids.npy (row k of the embeddings is the k-th id).
    """
    if not output.endswith((".pt", ".npy")):
        raise GnnrecError(f"{output}: export to a .pt or .npy path")
    model = _load_model(session, checkpoint, device)
    written = model.export(output)
    for key, path in written.items():
        click.echo(f"{key}: {path}")


# --------------------------------------------------------------------------- data

@cli.command(context_settings=CONTEXT)
@dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--save", type=click.Path(), default=None,
              help="Also write the split as a LightGCN folder (train.txt, val.txt, test.txt "
                   "over contiguous ids, plus user_list.txt / item_list.txt mapping them to "
                   "the original ids).")
@click.pass_obj
def data(session, as_json, save, **data_kwargs):
    r"""Inspect (and optionally prepare) a dataset: sizes, density, split
    sizes and degree quantiles of the training graph."""
    from gnnrec.data.loading import load_dataset
    from gnnrec.data.writers import write_lightgcn

    ds = load_dataset(data_spec(data_kwargs))
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
        for path in write_lightgcn(ds, save):
            session.echo(f"wrote {path}")


# --------------------------------------------------------------------------- bench

def _split_names(text: str, registry, what: str):
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in registry:
            raise GnnrecError(f"--{what}s: unknown {what} {n!r}; choose from {', '.join(registry)}")
    if not names:
        raise GnnrecError(f"--{what}s: give at least one name")
    return names


@cli.command(context_settings=CONTEXT)
@dataset_options
@click.option("--models", default="lightgcn", show_default=True,
              help=f"Comma-separated models ({', '.join(MODELS)}).")
@click.option("--samplers", default="rns", show_default=True,
              help=f"Comma-separated samplers ({', '.join(SAMPLERS)}).")
@click.option("--losses", default="bpr", show_default=True,
              help=f"Comma-separated losses ({', '.join(LOSSES)}); ratios are to the first loss "
                   "with the first sampler.")
@click.option("--opt", "opts", multiple=True, metavar="NAME.KEY=VALUE",
              help="An option of a named model, sampler or loss, e.g. dns.num_candidates=16; "
                   "repeatable.")
@click.option("--epochs", type=int, default=3, show_default=True,
              help="Timed rounds of every combination; the first is a warm-up.")
@click.option("--max-batches", type=int, default=None,
              help="Time only this many batches of each epoch (quick runs on big data).")
@click.option("--batch-size", type=int, default=None,
              help=f"Interactions per step. [default: {default_of(Trainer, 'batch_size')}]")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def bench(session, models, samplers, losses, opts, epochs, max_batches, batch_size, device,
          as_json, **data_kwargs):
    r"""Per-epoch training time of models x samplers x losses, in one run.

    Epochs of all combinations are timed round-robin on the same graph and
    device (so a busy machine slows them alike); the median of the rounds
    after the first is reported, with its ratio to the first combination of
    the same model (first loss, first sampler). Nothing is evaluated or saved.
    """
    from gnnrec.data.graph import RecGraph
    from gnnrec.train.bench import bench as run_bench
    from gnnrec.train.bench import format_bench
    from gnnrec.train.experiment import build_objective, resolve_device

    model_names = _split_names(models, MODELS, "model")
    sampler_names = _split_names(samplers, SAMPLERS, "sampler")
    loss_names = _split_names(losses, LOSSES, "loss")
    registries = {**{n: MODELS[n] for n in model_names}, **{n: SAMPLERS[n] for n in sampler_names},
                  **{n: LOSSES[n] for n in loss_names}}
    options: Dict[str, Dict] = {}
    for opt in opts:
        name, _, rest = opt.partition(".")
        if name not in registries or not rest:
            raise GnnrecError(f"--opt {opt!r}: expected NAME.KEY=VALUE with NAME one of "
                              f"{', '.join(registries)}")
        skip = ENCODER_ARGS if name in MODELS else ()
        options.setdefault(name, {}).update(
            parse_options(registries[name], [rest], skip, f"--opt {name}"))
    for m in model_names:  # fail on bad values before reading data
        for lo in loss_names:
            in_batch = resolve(LOSSES, lo, what="loss", **options.get(lo, {})).negatives \
                == "in_batch"
            for sa in ([None] if in_batch else sampler_names):
                build_objective({"model": m, "model_options": options.get(m, {}),
                                 "sampler": sa, "sampler_options": options.get(sa, {}),
                                 "loss": lo, "loss_options": options.get(lo, {})}, 1, 2)
    trainer_options = {} if batch_size is None else {"batch_size": batch_size}
    Trainer.check_options(**trainer_options, epochs=epochs)
    dev = resolve_device(device)
    dataset = load(session, data_spec(data_kwargs))
    graph = RecGraph.from_dataset(dataset, dev)
    results = run_bench(graph, model_names, sampler_names, loss_names, options, epochs,
                        max_batches, trainer_options, echo=session.echo)
    if as_json:
        click.echo(json.dumps({"device": str(dev), "results": results}, indent=2))
    else:
        click.echo(format_bench(results))


def main(argv=None):
    """Console entry point."""
    cli.main(args=argv, prog_name="gnnrec")


if __name__ == "__main__":  # pragma: no cover
    main()
