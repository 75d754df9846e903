"""Callbacks: the easy-negative warning, hook order, the torn-log repair."""
import json

import torch

from gnnrec.sampling import AHNS
from gnnrec.train.callbacks import EasyNegatives, JsonLines
from gnnrec.train.trainer import Callback, Trainer
from gnnrec.train.objective import Objective
from gnnrec.losses import BPR
from gnnrec.nn import MF
from tests.conftest import random_graph


class Stub:
    def __init__(self):
        self.objective = type("O", (), {"sampler": AHNS()})()


def test_easy_negatives_warns_once_after_patience_epochs():
    said = []
    cb = EasyNegatives(said.append, patience=3)
    trainer = Stub()
    for epoch, (h, u) in enumerate([(0.1, 0.2), (0.1, 0.2), (0.3, 0.2), (0.1, 0.2),
                                    (0.1, 0.2), (0.1, 0.2), (0.1, 0.2)], 1):
        cb.on_epoch_end(trainer, epoch, {"hardness": h, "hardness_uniform": u})
    assert len(said) == 1 and "easier negatives than uniform" in said[0]
    assert "raise beta or alpha" in said[0]


def test_ahns_reports_the_hardness_of_its_uniform_candidates():
    g = random_graph(8, 30, 0.2, seed=1)
    obj = Objective(MF(8, 30, embedding_dim=4), AHNS(num_candidates=8), BPR()).bind(g)
    _, stats = obj(g, g.user[:16], g.item[:16], torch.Generator().manual_seed(0))
    assert "hardness_uniform" in stats and "hardness" in stats


def test_hooks_are_called_in_order():
    calls = []

    class Record(Callback):
        def on_fit_start(self, trainer):
            calls.append("fit_start")

        def on_epoch_start(self, trainer, epoch):
            calls.append(f"epoch_start {epoch}")

        def on_batch_end(self, trainer, step, loss, stats):
            calls.append("batch")

        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(f"epoch_end {epoch}")

        def on_fit_end(self, trainer):
            calls.append("fit_end")

    g = random_graph(6, 9, 0.4)
    from gnnrec.sampling import RNS
    obj = Objective(MF(6, 9, embedding_dim=4), RNS(), BPR())
    Trainer(obj, g, epochs=2, batch_size=g.num_edges, callbacks=[Record()]).fit()
    assert calls == ["fit_start", "epoch_start 1", "batch", "epoch_end 1", "epoch_start 2",
                     "batch", "epoch_end 2", "fit_end"]


def test_a_torn_last_log_line_is_dropped_on_resume(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"epoch": 1}) + "\n" + json.dumps({"epoch": 2}) + "\n"
                   + '{"epoch": 3, "lo')
    said = []
    trainer = type("T", (), {"epoch": 2})()
    JsonLines(str(log), said.append).on_fit_start(trainer)
    assert [json.loads(x)["epoch"] for x in log.read_text().splitlines()] == [1, 2]
    assert "dropped 1 unreadable line" in said[0]
