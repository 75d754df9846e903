"""Training: the loop, its callbacks, checkpoints and whole runs."""
from gnnrec.train.batching import BATCHINGS, EdgeBatches, UserUniformBatches
from gnnrec.train.callbacks import Checkpoint, Console, EarlyStopping, Evaluate, JsonLines
from gnnrec.train.checkpoint import TrainedModel, atomic_save
from gnnrec.train.objective import Objective
from gnnrec.train.trainer import Callback, Trainer, TrainingStopped, epoch_seed, seed_everything

__all__ = ["BATCHINGS", "EdgeBatches", "UserUniformBatches", "Checkpoint", "Console",
           "EarlyStopping", "Evaluate", "JsonLines", "TrainedModel", "atomic_save", "Objective",
           "Callback", "Trainer", "TrainingStopped", "epoch_seed", "seed_everything"]
