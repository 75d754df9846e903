"""``gnnrec evaluate``: a checkpoint's metrics on a held-out split."""
import json

import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import data_changes, dataset_options, device_option, load_model, parse_ks
from gnnrec.cli.session import CONTEXT


@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@dataset_options
@click.option("--on", "fold", type=click.Choice(["test", "val", "test_balanced"]),
              default="test", show_default=True,
              help="Which held-out split to rank (test_balanced: --split popbalanced's).")
@click.option("--groups", is_flag=True,
              help="Also report head / mid / tail item groups (each a third of the training "
                   "interactions, most popular first).")
@click.option("--ks", default=None,
              help="Comma-separated cut-offs. [default: the run's own --ks]")
@click.option("--sampled", type=int, default=None,
              help="Also rank each test item against N random items the user never had "
                   "(sampled HR/NDCG); 0 off. [default: as the run was trained]")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@device_option
@click.pass_obj
def evaluate(session, checkpoint, fold, groups, ks, sampled, as_json, device, **data_kwargs):
    r"""Full-ranking metrics of a checkpoint on a held-out split, and what its
    top-K lists expose (share per popularity group, average popularity,
    coverage).

    Without dataset options, the data the run was trained on is read again as
    recorded in the checkpoint. A checkpoint trained on other data is refused.
    Every known interaction other than the target is masked (training items;
    for a test split also validation and the other test split). The model
    ranks with the scorer it was trained with.
    """
    from dataclasses import asdict

    from gnnrec.data.loading import DataSpec, load_dataset
    from gnnrec.metrics import most_popular
    from gnnrec.metrics.protocol import EvalProtocol, format_report

    model = load_model(session, checkpoint, device)
    data = DataSpec(**{**asdict(DataSpec.recorded(model.meta)), **data_changes(data_kwargs)})
    dataset = load_dataset(data, echo=session.echo)
    model.check_dataset(dataset)
    trained = model.meta.get("spec", {}).get("evaluation", {})
    if sampled is None:
        sampled = trained.get("sampled", 0)
    cutoffs = parse_ks(ks) if ks is not None else trained.get("ks")  # None: the protocol's
    protocol = EvalProtocol.from_dataset(dataset, model.device, sampled=sampled,
                                         **({"ks": cutoffs} if cutoffs else {}))
    score_fn = model.ranker()
    report = {"ks": protocol.ks, fold: protocol.evaluate(score_fn, fold, views=True),
              f"mostpop_{fold}": protocol.baseline(fold, views=True)}
    if groups:
        report[f"{fold}_groups"] = protocol.groups(score_fn, fold)
    if sampled:
        report[f"sampled_{fold}"] = protocol.evaluate_sampled(score_fn, fold)
        report[f"mostpop_sampled_{fold}"] = protocol.evaluate_sampled(
            most_popular(protocol.item_degree), fold)
    if as_json:
        out = {"split": fold, "model": report[fold], "mostpop": report[f"mostpop_{fold}"],
               "groups": report.get(f"{fold}_groups", {})}
        if sampled:
            out.update(sampled=report[f"sampled_{fold}"],
                       mostpop_sampled=report[f"mostpop_sampled_{fold}"])
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(format_report(report))
