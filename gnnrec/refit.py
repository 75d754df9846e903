"""Refit after model selection: retrain on train + validation for the
epoch count validation chose, and test that model once."""
import os
from dataclasses import replace
from typing import Callable, Dict

from gnnrec.data.dataset import RecDataset
from gnnrec.errors import GnnrecError
from gnnrec.outputs import RunFolderWriter, atomic_write_json
from gnnrec.run import train_run
from gnnrec.spec import RunSpec
from gnnrec.train.callbacks import read_log


def refit_spec(spec: RunSpec, epochs: int) -> RunSpec:
    r"""The spec of a refit: the same model, options and seed, trained on the
    training *and* validation interactions (``data.refit``, the test split
    unchanged) for ``epochs`` epochs, the number model selection chose.
    Nothing is selected in a refit: its last epoch is the model tested."""
    out = spec.copy()
    out.data = replace(out.data, refit=True)
    out.trainer["epochs"] = int(epochs)
    return out.validate()


def refit_run(spec: RunSpec, dataset: RecDataset, run_dir: str, epochs: int,
              device: str = "auto", progress: bool = False,
              echo: Callable[[str], None] = print) -> Dict:
    r"""Retrains ``spec`` on the training *and* validation interactions for
    ``epochs`` epochs (:func:`refit_spec`) in ``run_dir`` and evaluates the
    test splits once, at the end: how a validation-selected result is made
    comparable to results that train on all the training data, without
    looking at test. A refit already in ``run_dir`` is continued (training
    is a function of the seed and the epoch, so a refit trained in pieces
    equals one trained at once); one that trained past ``epochs`` is
    replaced.

    Returns:
        the refit's results (:func:`train_run`), with ``epochs``.
    """
    rspec = refit_spec(spec, epochs)
    log, _ = read_log(os.path.join(run_dir, "log.jsonl"))
    done = max((r.get("epoch", 0) for r in log), default=0)
    resume = os.path.exists(os.path.join(run_dir, "last.pt"))
    if resume and done > epochs:
        echo(f"note: {run_dir} trained {done} epochs, more than the {epochs} chosen; "
             "refitting afresh")
        resume = False
    results = train_run(rspec, dataset.with_validation_in_train(), run_dir, device=device,
                        resume=resume, overwrite=not resume and os.path.isdir(run_dir),
                        progress=progress, echo=echo)
    results["epochs"] = int(epochs)
    return results


def train_and_refit(spec: RunSpec, dataset: RecDataset, run_dir, device="auto",
                    resume: bool = False, overwrite: bool = False, progress: bool = False,
                    echo: Callable[[str], None] = print) -> Dict:
    r"""Selects the epoch on validation without testing (:func:`train_run`
    with ``test=False``), then refits on train + validation for that many
    epochs in ``<run_dir>/refit`` (:func:`refit_run`) and tests that model
    once. The run's ``results.json`` holds the selection and, under
    ``refit``, the refit's test metrics.
    """
    if not (spec.data.val_frac > 0 or dataset.has("val")):
        raise GnnrecError("--refit retrains for the epoch chosen on validation, and this "
                          "dataset has no validation split (set --val-frac > 0)")
    own = not isinstance(run_dir, RunFolderWriter)
    folder = RunFolderWriter(run_dir, resume=resume, overwrite=overwrite) if own else run_dir
    try:  # the run folder stays locked through the refit inside it
        results = train_run(spec, dataset, folder, device=device, resume=resume,
                            progress=progress, echo=echo, test=False)
        final = results["run_dir"]
        epochs = results["best_epoch"]
        echo(f"refit: training on train + validation for {epochs} epochs (the epoch chosen on "
             "validation), then testing once")
        refit = refit_run(spec, dataset, os.path.join(final, "refit"), epochs, device=device,
                          progress=progress, echo=echo)
        results["refit"] = {k: v for k, v in refit.items() if k not in ("best_val", "metric")}
        atomic_write_json(os.path.join(final, "results.json"), results)
        return results
    finally:
        if own:
            folder.close()
