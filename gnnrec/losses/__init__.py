"""Recommendation losses."""
from gnnrec.losses.base import RecLoss
from gnnrec.losses.bpr import BPR

#: loss name -> class (the CLI's ``--loss`` choices)
LOSSES = {"bpr": BPR}

__all__ = ["RecLoss", "BPR", "LOSSES"]
