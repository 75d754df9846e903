"""``gnnrec show``: what run folders hold, for a person."""
import json
import sys

import click

from gnnrec.cli.group import cli
from gnnrec.cli.session import CONTEXT


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
