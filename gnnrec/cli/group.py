"""The ``gnnrec`` command group and its entry point."""
import os
import sys

import click

from gnnrec.cli.session import CONTEXT, Group, Session


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
    gnnrec data --dataset ratings.csv               # format and columns detected

    On Linux (glibc), memory freed during a run stays with the process
    instead of being returned and faulted in again every step (faster, steadier
    CPU steps; GNNREC_KEEP_FREED=0 turns it off; see gnnrec.allocator).
    """
    from gnnrec.allocator import keep_freed_memory

    keep_freed_memory()
    ctx.obj = Session(quiet)


def main(argv=None):
    """Console entry point. A process of a torchrun job (``WORLD_SIZE`` > 1)
    leaves without the interpreter's teardown, once its output is flushed:
    gloo's background threads, destroyed there, occasionally abort the
    process ("terminate called without an active exception") after the
    run is written, which torchrun reports as a failed job."""
    try:
        cli.main(args=argv, prog_name="gnnrec")
    except SystemExit as e:
        if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
            raise
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))
