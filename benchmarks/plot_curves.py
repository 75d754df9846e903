"""Draws the curves recorded by benchmarks/curves.py with gnnrec's own plotting
(matplotlib: pip install gnnrec[plot]).

    python benchmarks/plot_curves.py benchmarks/results/samplers_lightgcn_gowalla20core_cpu.json \
        benchmarks/results/samplers_lightgcn_gowalla20core_cpu.png

Panels: test Recall@20, test NDCG@20, training loss and average negative
hardness (AHNS's definition) per epoch, one line per run.
"""
import json
import sys

from gnnrec.plot import plot_curves

PANELS = [("test/recall@20", "test Recall@20"), ("test/ndcg@20", "test NDCG@20"),
          ("loss", "training loss"), ("hardness", "avg negative hardness")]


def main(src: str, dst: str) -> None:
    with open(src) as f:
        data = json.load(f)
    info = data["info"]
    plot_curves(data["runs"], PANELS, dst,
                title=f"{info['dataset']} ({info['users']} users, {info['items']} items, "
                      f"{info['train']} train), {info['device']}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
