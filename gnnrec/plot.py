"""Training curves as a PNG (matplotlib, an optional extra: ``gnnrec[plot]``)."""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from gnnrec.errors import GnnrecError


def plot_curves(runs: Mapping[str, List[Dict]], panels: Sequence[Tuple[str, str]], path: str,
                title: Optional[str] = None) -> str:
    r"""Draws one panel per ``(key, title)`` of ``panels``: the value of
    ``key`` in each record against its ``epoch``, one line per run. Records
    without the key (e.g. epochs that were not evaluated) are skipped; a
    panel no run has is left out. A panel whose positive values span over
    20x (e.g. a BPR loss beside a softmax loss) gets a log axis; past six
    runs the legend sits beside the panels and past ten each colour also
    takes a dash, so every run stays told apart. Returns ``path``.

    Args:
        runs (mapping): run label -> list of per-epoch records (dicts with
            ``epoch``), as in a run's ``log.jsonl``.
        panels (sequence): ``(record key, panel title)`` pairs.
        path (str): the PNG to write.
        title (str, optional): the figure's title.
    """
    try:
        import matplotlib
    except ImportError:
        raise GnnrecError("plotting needs matplotlib: pip install gnnrec[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(k, t) for k, t in panels
             if any(r.get(k) is not None for recs in runs.values() for r in recs)]
    if not shown:
        raise GnnrecError(f"nothing to plot: no run has {', '.join(k for k, _ in panels)}")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 4), squeeze=False)
    for i, (name, records) in enumerate(runs.items()):
        for ax, (key, panel) in zip(axes[0], shown):
            pts = [(r["epoch"], r[key]) for r in records
                   if isinstance(r.get(key), (int, float)) and r[key] == r[key]]
            if pts:
                ax.plot(*zip(*pts), label=name, lw=1.4, **_style(i, len(runs)))
            ax.set_title(panel)
            ax.set_xlabel("epoch")
    for ax in axes[0]:
        _log_scale_if_wide(ax)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:  # a run may lack the first panel's key
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if len(labels) <= 6:
        axes[0][0].legend(handles, labels, fontsize=8)
    else:  # many runs: beside the panels, so no curve is hidden under it
        fig.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 0.95),
                   ncol=-(-len(labels) // 30))
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _style(i: int, n: int) -> Dict:
    """Colour and dash for run ``i`` of ``n``: ten colours alone up to ten
    runs, then each colour with four dashes, so 40 runs stay distinct."""
    colour = f"C{i % 10}"
    if n <= 10:
        return {"color": colour}
    return {"color": colour, "linestyle": ("-", "--", ":", "-.")[(i // 10) % 4]}


def _log_scale_if_wide(ax) -> None:
    """A panel whose positive values span over 20x (e.g. a BPR loss beside a
    softmax loss) on a log axis, so the small ones are not a flat line."""
    ys = [y for line in ax.get_lines() for y in line.get_ydata()]
    if ys and min(ys) > 0 and max(ys) / min(ys) > 20:
        ax.set_yscale("log")
