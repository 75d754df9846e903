"""Training: the loop, its callbacks and batching; it knows no model family."""
from gnnrec.train.batching import BATCHINGS, EdgeBatches, UserUniformBatches
from gnnrec.train.callbacks import (Checkpoint, Console, EarlyStopping, Evaluate, JsonLines,
                                    NonFiniteLoss, ProgressBar)
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Callback, Trainer, TrainingStopped, epoch_seed, seed_everything

__all__ = ["BATCHINGS", "EdgeBatches", "UserUniformBatches", "Checkpoint", "Console",
           "EarlyStopping", "Evaluate", "JsonLines", "NonFiniteLoss", "ProgressBar", "Objective",
           "Callback", "Trainer", "TrainingStopped", "epoch_seed", "seed_everything"]
