"""Draws the curves recorded by benchmarks/curves.py (needs matplotlib, which
gnnrec itself does not).

    python benchmarks/plot_curves.py benchmarks/results/samplers_lightgcn_gowalla20core_cpu.json \
        benchmarks/results/samplers_lightgcn_gowalla20core_cpu.png

Panels: test Recall@20, test NDCG@20, training loss and average negative
hardness (AHNS's definition) per epoch, one line per run.
"""
import json
import sys


def main(src: str, dst: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(src) as f:
        data = json.load(f)
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    panels = [("test/recall@20", "test Recall@20"), ("test/ndcg@20", "test NDCG@20"),
              ("loss", "training loss"), ("hardness", "avg negative hardness")]
    for name, records in data["runs"].items():
        label = name
        for ax, (key, title) in zip(axes, panels):
            pts = [(r["epoch"], r[key]) for r in records if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), label=label, lw=1.4)
            ax.set_title(title)
            ax.set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    info = data["info"]
    fig.suptitle(f"{info['dataset']} ({info['users']} users, {info['items']} items, "
                 f"{info['train']} train), {info['device']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
