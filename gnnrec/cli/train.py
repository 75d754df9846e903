"""``gnnrec train``: a run in a folder, selected on validation, tested."""
import os
import sys
from contextlib import nullcontext

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import (ENCODER_ARGS, build_spec, component_help, device_option,
                                list_protocols, load, spec_options, _spec_default)
from gnnrec.cli.session import CONTEXT
from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.nn import MODELS
from gnnrec.sampling import SAMPLERS
from gnnrec.spec import DEFAULT_SAMPLER


@cli.command(context_settings=CONTEXT)
@spec_options
@click.option("--out", "run_dir", type=click.Path(), default=None,
              help="Run folder for config.json, last.pt, best.pt, log.jsonl, results.json. "
                   "[default: runs/<model>-<sampler>-<loss>]")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last.pt with the spec in its "
                   "config.json (data included); only --epochs, --lr, --patience and "
                   "--min-delta may be changed, and changes are noted.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--refit", is_flag=True,
              help="After the epoch is chosen on validation (test is not read), retrain on "
                   "train + validation for that many epochs with the same seed and options, "
                   "in RUN/refit, and test that model once: a validation-selected result "
                   "comparable to ones trained on all the training data. The table and "
                   "results.json say the test numbers are the refit's.")
@device_option
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
        with ddp.stop_on_sigterm() if ctx else nullcontext():
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
    except (RuntimeError, ddp.JobStopped) as e:
        if ctx and (isinstance(e, ddp.JobStopped) or ddp.peer_lost(e)):
            raise GnnrecError(f"process {ctx.rank}: another process of this torchrun job "
                              f"stopped (or the job was stopped); {run_dir} is intact up to its "
                              "last complete epoch and resumes on any number of processes, one "
                              f"included: gnnrec train --out {run_dir} --resume") from None
        raise
    except BaseException:
        if not isinstance(folder, str) and not folder.begun:
            folder.abort()  # refused before anything was written: leave no folder behind
        raise
    finally:
        if ctx:
            ddp.close(clean)
