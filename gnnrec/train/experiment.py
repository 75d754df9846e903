"""A whole training run: build, train with validation, test the best model.

This is what ``gnnrec train`` does, callable from Python. Names of models,
samplers and losses are resolved here, once; the trainer never sees a string.
"""
import json
import os
from typing import Callable, Dict

import torch

from gnnrec.data.dataset import FOLDS, RecDataset, masked_folds
from gnnrec.data.graph import RecGraph
from gnnrec.data.positives import PositiveSet
from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.metrics import FullRankingEvaluator, evaluate_groups, metric_grid, most_popular
from gnnrec.nn import MODELS
from gnnrec.registry import resolve
from gnnrec.sampling import SAMPLERS
from gnnrec.train.callbacks import Checkpoint, Console, EarlyStopping, Evaluate, JsonLines
from gnnrec.train.checkpoint import (atomic_save, checkpoint_meta, load_trainer_state,
                                     model_state)
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Trainer, seed_everything

METRIC_NAMES = ("recall", "ndcg", "precision", "hit", "mrr")


def resolve_device(name: str) -> torch.device:
    r"""``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GnnrecError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return dev


def split_sets(dataset: RecDataset, device) -> Dict[str, PositiveSet]:
    """PositiveSets of each non-empty split, on ``device``."""
    out = {}
    for fold in FOLDS:
        if dataset.has(fold):
            e = dataset.edges(fold).to(device)
            out[fold] = PositiveSet(e[0], e[1], dataset.num_users, dataset.num_items)
    return out


def build_objective(config: Dict, num_users: int, num_items: int) -> Objective:
    r"""Encoder, sampler and loss from names and options (a run config)."""
    encoder = resolve(MODELS, config["model"], num_users, num_items, what="model",
                      **config.get("model_options", {}))
    loss = resolve(LOSSES, config["loss"], what="loss", **config.get("loss_options", {}))
    sampler = None
    if config.get("sampler"):
        sampler = resolve(SAMPLERS, config["sampler"], what="sampler",
                          **config.get("sampler_options", {}))
    extra = {} if config.get("reg") is None else {"reg_weight": config["reg"]}
    return Objective(encoder, sampler, loss, **extra)


def train_run(dataset: RecDataset, run_dir: str, config: Dict, device: str = "auto",
              resume: bool = False, overwrite: bool = False, progress: bool = False,
              echo: Callable[[str], None] = print) -> Dict:
    r"""Trains, selects the best epoch on validation, tests it.

    Args:
        dataset (RecDataset): the split data.
        run_dir (str): where ``config.json``, ``last.pt``, ``best.pt``,
            ``log.jsonl`` and ``results.json`` go.
        config (dict): ``model``, ``sampler``, ``loss`` (names) with
            ``*_options`` dicts; ``trainer`` (keyword arguments of
            :class:`Trainer`); ``reg``; ``ks``; ``monitor``; ``patience``;
            ``eval_every``. Missing entries take the constructors' defaults.
        device (str): ``auto``, ``cpu`` or ``cuda``.
        resume (bool): continue ``run_dir/last.pt`` with its saved config
            (only ``trainer.epochs`` may be raised).
        overwrite (bool): start afresh even if ``run_dir`` holds a run.

    Returns:
        dict of results (test metrics of the best epoch, MostPop baseline).
    """
    dev = resolve_device(device)
    last = os.path.join(run_dir, "last.pt")
    ckpt = None
    if resume:
        if not os.path.exists(last):
            raise GnnrecError(f"{run_dir}: nothing to resume (no last.pt)")
        ckpt = load_trainer_state(last, map_location=dev)
        saved = dict(ckpt["config"])
        if "epochs" in config.get("trainer", {}):
            saved.setdefault("trainer", {})["epochs"] = config["trainer"]["epochs"]
        config = saved
        if ckpt["fingerprint"] != dataset.fingerprint():
            raise GnnrecError(f"{last}: the run was trained on other data than this dataset")
    elif os.path.exists(last) and not overwrite:
        raise GnnrecError(f"{run_dir} already holds a run; pass --resume to continue it, "
                          "--overwrite to replace it, or another --out")

    trainer_opts = dict(config.get("trainer", {}))
    seed = trainer_opts.get("seed", 0)
    seed_everything(seed)
    objective = build_objective(config, dataset.num_users, dataset.num_items).to(dev)
    graph = RecGraph.from_dataset(dataset, dev)
    sets = split_sets(dataset, dev)
    ks = list(config.get("ks") or [20])
    monitor = config.get("monitor", f"recall@{ks[0]}")
    evaluator = FullRankingEvaluator(metric_grid(METRIC_NAMES, ks))
    if max(ks) > dataset.num_items:
        raise GnnrecError(f"a cut-off of {max(ks)} exceeds the {dataset.num_items} items")

    if not resume:
        if overwrite and os.path.isdir(run_dir):
            for name in ("last.pt", "best.pt", "log.jsonl", "results.json", "config.json"):
                if os.path.exists(os.path.join(run_dir, name)):
                    os.unlink(os.path.join(run_dir, name))
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump({**config, "data": dataset.source, "notes": dataset.notes}, f, indent=2)

    callbacks = []
    keys = []
    if "val" in sets:
        callbacks.append(Evaluate(evaluator, sets["val"], [sets["train"]],
                                  every=config.get("eval_every", 1), prefix="val"))
        callbacks.append(EarlyStopping(f"val/{monitor}", patience=config.get("patience", 10)))
        keys = [f"val/recall@{ks[0]}", f"val/ndcg@{ks[0]}"]
    else:
        echo("no validation split: no model selection, best.pt is the last epoch")
    meta = checkpoint_meta(dataset, config["model"], config.get("model_options", {}), config)
    checkpoint = Checkpoint(run_dir, lambda: meta)
    callbacks += [checkpoint, JsonLines(os.path.join(run_dir, "log.jsonl")), Console(echo, keys)]
    trainer = Trainer(objective, graph, callbacks=callbacks, progress=progress, **trainer_opts)
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])
        echo(f"resuming {run_dir} after epoch {trainer.epoch}")
    elif not os.path.exists(last):
        # epoch 0: an interruption during the first epoch still leaves a run to resume
        atomic_save({**meta, "model": model_state(objective, 0),
                     "trainer": trainer.state_dict(), "logs": {"epoch": 0}}, last)

    trainer.fit()

    results = {"run_dir": run_dir, "epochs_run": trainer.epoch, "ks": ks}
    best = torch.load(checkpoint.best, map_location=dev, weights_only=True)
    objective.encoder.load_state_dict(best["model"]["encoder"])
    results["best_epoch"] = best["model"]["epoch"]
    score_fn = objective.score_fn(graph)
    for fold in ("test", "test_balanced"):
        if fold not in sets:
            continue
        exclude = [sets[f] for f in masked_folds(fold) if f in sets]
        results[fold] = evaluator.evaluate(score_fn, sets[fold], exclude)
        results[f"mostpop_{fold}"] = evaluator.evaluate(most_popular(graph.item_degree),
                                                       sets[fold], exclude)
        results[f"{fold}_groups"] = evaluate_groups(evaluator, score_fn, sets[fold], exclude,
                                                    graph.item_degree)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def format_results(results: Dict) -> str:
    """A small text table of test metrics against MostPop (and by
    popularity group)."""
    ks = results["ks"]
    if "test" not in results:
        return f"no test split; best epoch {results['best_epoch']}"
    rows = []
    for fold in ("test", "test_balanced"):
        if fold not in results:
            continue
        res, pop = results[fold], results[f"mostpop_{fold}"]
        groups = results.get(f"{fold}_groups", {})
        rows += [f"{fold} ({res['users']} users), best epoch {results['best_epoch']}:",
                 f"  {'metric':<14}{'model':>10}{'MostPop':>10}"
                 + "".join(f"{g:>10}" for g in groups)]
        for k in ks:
            for name in ("recall", "ndcg", "precision", "hit", "mrr"):
                key = f"{name}@{k}"
                rows.append(f"  {key:<14}{res[key]:>10.4f}{pop[key]:>10.4f}"
                            + "".join(f"{g[key]:>10.4f}" for g in groups.values()))
    if any(f"{f}_groups" in results for f in ("test", "test_balanced")):
        rows.append("  (head/mid/tail: test items of each third of the training interactions, "
                    "most popular items first)")
    return "\n".join(rows)

