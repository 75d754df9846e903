"""Reading, filtering and splitting interactions; PyG views; device graphs."""
from gnnrec.data.dataset import EDGE, REV_EDGE, RecDataset
from gnnrec.data.graph import RecGraph
from gnnrec.data.interactions import IdMap, Interactions
from gnnrec.data.loading import DataSpec, bundled_path, load_dataset
from gnnrec.data.positives import PositiveSet

__all__ = ["EDGE", "REV_EDGE", "RecDataset", "RecGraph", "IdMap", "Interactions",
           "DataSpec", "bundled_path", "load_dataset", "PositiveSet"]
