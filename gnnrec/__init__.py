"""gnnrec: graph-neural recommenders on PyTorch Geometric."""

__version__ = "0.1.0"

from gnnrec.errors import GnnrecError  # noqa: E402


def load(path, map_location="cpu"):
    """Loads a checkpoint written by ``gnnrec train`` into a
    :class:`gnnrec.train.checkpoint.TrainedModel` (encoder, id maps and
    training graph) in one line.

    Example::

        model = gnnrec.load("runs/lightgcn/best.pt")
        users, items = model.embeddings()
    """
    from gnnrec.train.checkpoint import TrainedModel

    return TrainedModel.load(path, map_location=map_location)


__all__ = ["GnnrecError", "load", "__version__"]
