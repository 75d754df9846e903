"""Training curves as a PNG (matplotlib, an optional extra: ``gnnrec[plot]``)."""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from gnnrec.errors import GnnrecError


def plot_curves(runs: Mapping[str, List[Dict]], panels: Sequence[Tuple[str, str]], path: str,
                title: Optional[str] = None) -> str:
    r"""Draws one panel per ``(key, title)`` of ``panels``: the value of
    ``key`` in each record against its ``epoch``, one line per run. Records
    without the key (e.g. epochs that were not evaluated) are skipped; a
    panel no run has is left out. Returns ``path``.

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
    for name, records in runs.items():
        for ax, (key, panel) in zip(axes[0], shown):
            pts = [(r["epoch"], r[key]) for r in records
                   if isinstance(r.get(key), (int, float)) and r[key] == r[key]]
            if pts:
                ax.plot(*zip(*pts), label=name, lw=1.4)
            ax.set_title(panel)
            ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
