"""``gnnrec tune``: a hyper-parameter search on validation."""
import os
import shutil
import sys

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import build_spec, device_option, load, spec_options
from gnnrec.cli.session import CONTEXT


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
@device_option
@click.option("--progress/--no-progress", default=False, show_default=True,
              help="Progress bar per epoch of each trial.")
@click.pass_obj
def tune(session, space, trials, search, prune, search_seed, out, refit, device, progress,
         **kwargs):
    r"""Search hyper-parameters on the validation split (Optuna).

    Every trial trains an ordinary run folder from the spec given by the
    other options with the trial's values, and scores its best validation
    --metric; the study is an SQLite file in --out, so Ctrl-C and a rerun of
    the same command resume it without repeating finished trials (the
    interrupted trial goes on from its last complete epoch). Only the
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
