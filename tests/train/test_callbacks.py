"""Callbacks: the easy-negative warning, hook order, the torn-log repair."""
import json

import pytest
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


def _diverging_fit(defer, bad_step=(2, 3), batches=6):
    r"""Trains MF for 3 epochs of ``batches`` steps with the loss poisoned from
    step ``bad_step`` = (epoch, step) on; returns the error, the forward calls
    made and the epochs a later callback (a checkpoint's place) saw end."""
    from gnnrec.sampling import RNS
    from gnnrec.train.callbacks import NonFiniteLoss
    from gnnrec.train.trainer import TrainingStopped

    g = random_graph(12, 20, 0.3, seed=2)
    seen, calls = [], []

    class Later(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(epoch)

    class Poisoned(Objective):
        def forward(self, graph, users, items, generator=None):
            loss, stats = super().forward(graph, users, items, generator)
            calls.append(1)
            epoch, step = bad_step
            if len(calls) > (epoch - 1) * batches + step - 1:
                loss = loss * float("inf")
            return loss, stats

    obj = Poisoned(MF(12, 20, embedding_dim=4), RNS(), BPR())
    trainer = Trainer(obj, g, epochs=3, batch_size=-(-g.num_edges // batches),
                      callbacks=[NonFiniteLoss(defer=defer), Later()])
    assert len(trainer.batches) == batches
    try:
        trainer.fit()
    except TrainingStopped as e:
        return str(e), len(calls), seen
    raise AssertionError("a diverged run was not stopped")


def test_a_deferred_non_finite_check_stops_at_the_epoch_end_with_the_same_report():
    # on an accelerator the check reads the device once an epoch, not every step: it
    # must name the same epoch and step and stop before anything later sees the epoch
    now, now_calls, now_seen = _diverging_fit(defer=False)
    later, later_calls, later_seen = _diverging_fit(defer=True)
    assert "at epoch 2, step 3" in now and "keep epoch 1" in now
    assert later == now
    assert now_seen == later_seen == [1]  # the diverged epoch reaches no checkpoint
    assert now_calls == 6 + 3 and later_calls == 6 + 6  # deferred: the epoch ran out


def test_a_deferred_check_names_the_first_bad_step_in_the_first_epoch():
    msg, _, seen = _diverging_fit(defer=True, bad_step=(1, 5))
    assert "at epoch 1, step 5" in msg and "no epoch had completed" in msg and seen == []


def _select(values, **options):
    """Feeds one evaluation an epoch to an EarlyStopping; returns the epochs it
    marked best, the epoch it stopped at (or None) and its final best epoch."""
    from gnnrec.train.callbacks import EarlyStopping

    cb, trainer = EarlyStopping("val/m", **options), type("T", (), {"should_stop": False})()
    marked = []
    for epoch, v in enumerate(values, 1):
        logs = {"val/m": v}
        cb.on_epoch_end(trainer, epoch, logs)
        if logs.get("is_best"):
            marked.append(epoch)
        if trainer.should_stop:
            return marked, epoch, logs["best_epoch"]
    return marked, None, cb.best_epoch


def test_early_stopping_counts_only_gains_above_min_delta():
    creep = [0.200, 0.2004, 0.2008, 0.2012, 0.2009, 0.2030]
    # every rise is a new best without min_delta; none of the creep is at 0.001, and the
    # best is compared with the last counted best, not the last value (0.2030 > 0.2012)
    assert _select(creep, patience=0) == ([1, 2, 3, 4, 6], None, 6)
    assert _select(creep, patience=0, min_delta=0.001) == ([1, 4, 6], None, 6)
    # patience runs out on the creep: stops at epoch 3 with epoch 1 still the best
    assert _select(creep, patience=2, min_delta=0.001) == ([1], 3, 1)
    assert _select(creep, patience=2) == ([1, 2, 3, 4, 6], None, 6)
    # a gain of exactly min_delta is not more than it
    assert _select([0.5, 0.75], patience=0, min_delta=0.25)[0] == [1]
    # mode min: the mirror image
    assert _select([1.0, 0.9995, 0.998], patience=0, mode="min", min_delta=0.001)[0] == [1, 3]


@pytest.mark.parametrize("bad", [-0.001, float("nan")])
def test_early_stopping_refuses_a_negative_or_nan_min_delta(bad):
    from gnnrec.train.callbacks import EarlyStopping

    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping("val/m", min_delta=bad)
