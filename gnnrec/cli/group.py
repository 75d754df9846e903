"""The ``gnnrec`` command group and its entry point."""
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
    """Console entry point."""
    cli.main(args=argv, prog_name="gnnrec")
