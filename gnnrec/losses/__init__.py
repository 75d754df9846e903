"""Recommendation losses and the similarity functions they score with."""
from gnnrec.losses.base import RecLoss
from gnnrec.losses.bpr import BPR
from gnnrec.losses.hdccf import DCL, HDCCF
from gnnrec.losses.popdcl import PopDCL
from gnnrec.losses.softbpr import SoftBPR
from gnnrec.losses.ssm import SSM

#: loss name -> class (the CLI's ``--loss`` choices)
LOSSES = {"bpr": BPR, "softbpr": SoftBPR, "ssm": SSM, "dcl": DCL, "hdccf": HDCCF,
          "popdcl": PopDCL}

__all__ = ["RecLoss", "BPR", "SoftBPR", "SSM", "DCL", "HDCCF", "PopDCL", "LOSSES"]
