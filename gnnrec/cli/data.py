"""``gnnrec data``: a dataset's statistics (and a prepared copy);
``gnnrec data synth``: synthetic interactions."""
import json

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import data_changes, dataset_options
from gnnrec.cli.session import CONTEXT


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
