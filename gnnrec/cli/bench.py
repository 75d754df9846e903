"""``gnnrec bench``: per-epoch time of models x samplers x losses."""
import json

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import (Help, data_changes, dataset_options, device_option,
                                in_batch_names, load, split_names)
from gnnrec.cli.session import CONTEXT
from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.nn import MODELS
from gnnrec.registry import default_of
from gnnrec.sampling import SAMPLERS
from gnnrec.train.trainer import Trainer


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
@click.option("--batch-size", default=None, metavar="N[,N...]",
              help="Interactions per step; comma-separated to time several, every "
                   "combination at each (LightGCN and NGCF propagate the whole graph at every "
                   "step, so an epoch's cost falls with the batch; with --max-batches compare "
                   "their inter/s). [default: "
                   f"{default_of(Trainer, 'batch_size')}]")
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
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_obj
def bench(session, models, samplers, losses, opts, epochs, max_batches, batch_size, with_eval,
          peer, peer_batches, output, overwrite, device, as_json, **data_kwargs):
    """Per-epoch training time of models x samplers x losses, in one run,
    and where it goes.

    Epochs of all combinations are timed round-robin on the same graph and
    device (so a busy machine slows them alike); the median of the rounds
    after the first is reported, with its ratio to the first combination of
    the same model (first loss, first sampler). --output also writes the
    results, with the command line, commit, torch version and machine that
    made them.

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
    from gnnrec.bench import check_bench, format_bench, write_bench
    from gnnrec.data.graph import RecGraph
    from gnnrec.data.loading import DataSpec
    from gnnrec.metrics.protocol import EvalProtocol
    from gnnrec.outputs import check_targets
    from gnnrec.registry import parse_named_options
    from gnnrec.run import resolve_device
    from gnnrec.spec import SKIP, RunSpec

    options = parse_named_options(opts, {"model": MODELS, "sampler": SAMPLERS, "loss": LOSSES},
                                  skip=SKIP)
    check_bench(epochs, max_batches, peer_batches, output)
    if output:
        check_targets([output], overwrite)
    model_names = split_names(models, MODELS, "model", "models")
    if peer and "lightgcn" not in model_names:
        raise GnnrecError("--peer pyg times PyG's LightGCN: include lightgcn in --models")
    names = (model_names, split_names(samplers, SAMPLERS, "sampler", "samplers"),
             split_names(losses, LOSSES, "loss", "losses"))
    specs = [spec for size in batch_sizes(batch_size) for spec in RunSpec.grid(
        *names, options, trainer={"epochs": epochs, **({"batch_size": size} if size else {})})]
    dev = resolve_device(device)
    dataset = load(session, DataSpec(**data_changes(data_kwargs)))
    graph = RecGraph.from_dataset(dataset, dev)
    protocol = EvalProtocol.from_dataset(dataset, dev) if with_eval else None
    results = run_bench(graph, specs, epochs, max_batches, protocol=protocol, peer=peer,
                        peer_batches=peer_batches, echo=session.echo)
    if output:
        write_bench(results, output, str(dev),
                    command=click.get_current_context().meta.get("argv"))
        session.echo(f"wrote {output}")
    if as_json:
        click.echo(json.dumps({"device": str(dev), "results": results}, indent=2))
    else:
        click.echo(format_bench(results))


def batch_sizes(text):
    r"""``--batch-size``'s comma-separated sizes (``[None]``: the default)."""
    if text is None:
        return [None]
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        detail = f"must be positive integers, comma-separated (e.g. 2048,8192), got {text!r}"
        raise GnnrecError(f"batch_size {detail}", param="batch_size", detail=detail)
    return sizes
