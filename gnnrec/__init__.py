"""gnnrec: graph-neural recommenders on PyTorch Geometric."""

__version__ = "0.2.0"

from gnnrec.errors import GnnrecError  # noqa: E402


def load(path, map_location="cpu"):
    """Loads a checkpoint written by ``gnnrec train`` into a
    :class:`gnnrec.model.RecModel` (encoder, scorer, id maps and training
    graph) in one line.

    Example::

        model = gnnrec.load("runs/lightgcn/best.pt")
        users, items = model.embeddings()
    """
    from gnnrec.model import RecModel

    return RecModel.load(path, map_location=map_location)


__all__ = ["GnnrecError", "load", "__version__"]
