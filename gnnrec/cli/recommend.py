"""``gnnrec recommend``: top-k items for users, from a checkpoint or an index."""
import json

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import device_option, load_model
from gnnrec.cli.session import CONTEXT
from gnnrec.errors import GnnrecError
from gnnrec.model import check_k


@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(), required=False)
@click.option("--index", "index", type=click.Path(), default=None,
              help="Answer from a FAISS index written by export --format faiss instead of a "
                   "checkpoint (no model is loaded).")
@click.option("--user", "users", multiple=True, help="A user id as in your data; repeatable.")
@click.option("--users-file", type=click.File(), default=None,
              help="A file of user ids, one per line.")
@click.option("-k", "k", type=int, default=10, show_default=True,
              help="Items per user (fewer when the user has not that many unseen items).")
@click.option("--include-seen", is_flag=True,
              help="Also recommend items the user has in training.")
@click.option("--skip-unknown", is_flag=True,
              help="Report user ids the model does not know and answer the others (without "
                   "it, an unknown id is an error).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="Output format.")
@device_option
@click.pass_obj
def recommend(session, checkpoint, index, users, users_file, k, include_seen, skip_unknown,
              fmt, device):
    r"""Top-k items for users, in the user and item ids of your data.

    Items the user already has in training are left out unless
    --include-seen is given; a user then gets at most its number of unseen
    items. User and item ids are printed with the type they have in the
    data (numbers stay numbers in JSON).
    """
    check_k(k)
    ids = list(users)
    if users_file is not None:
        ids += [ln.strip() for ln in users_file if ln.strip()]
    if not ids:
        raise GnnrecError("give users with --user ID (repeatable) or --users-file FILE")
    if (checkpoint is None) == (index is None):
        raise GnnrecError("give a CHECKPOINT or --index FILE (one of them)")
    if index is not None:
        from gnnrec.serving import IndexRecommender

        model = IndexRecommender(index)
    else:
        model = load_model(session, checkpoint, device)
    known = model.known_users(ids)
    if not all(known) and not skip_unknown:
        bad = [u for u, ok in zip(ids, known) if not ok]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise GnnrecError(f"unknown user {bad[0]}{more}; --skip-unknown answers the known ones")
    items, scores = model.recommend(ids, k=k, exclude_seen=not include_seen, skip_unknown=True)
    found = model.users.find(ids)
    canon = [_py(model.users[i]) if i >= 0 else u for u, i in zip(ids, found)]
    for u, ok in zip(ids, known):
        if not ok:
            session.echo(f"unknown user {u}: skipped")
    for u, it, ok in zip(canon, items, known):
        if ok and len(it) < k:
            session.echo(f"user {u}: only {len(it)} item(s) it has not seen")
    rows = [(u, it, sc) for u, it, sc, ok in zip(canon, items, scores, known) if ok]
    if fmt == "json":
        click.echo(json.dumps([{"user": u, "items": [_py(x) for x in it],
                                "scores": [round(float(s), 6) for s in sc]}
                               for u, it, sc in rows], indent=2))
    elif fmt == "csv":
        click.echo("user,rank,item,score")
        for u, it, sc in rows:
            for r, (x, s) in enumerate(zip(it, sc), 1):
                click.echo(f"{u},{r},{x},{s:.6f}")
    else:
        for u, it, _ in rows:
            click.echo(f"{u}: {' '.join(str(x) for x in it)}")


def _py(x):
    return x.item() if hasattr(x, "item") else x
