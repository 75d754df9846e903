"""Non-learned reference scorers for evaluation (most-popular)."""
from torch import Tensor

from gnnrec.metrics.evaluator import ScoreFn


def most_popular(item_degree: Tensor) -> ScoreFn:
    r"""MostPop: every user gets the items ranked by training popularity
    (degree); the floor a learned model must clear."""
    pop = item_degree.float().unsqueeze(0)
    return lambda users: pop.expand(len(users), -1).clone()
