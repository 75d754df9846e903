"""Encoders (MF, LightGCN, NGCF) and the similarity functions that score them."""
from gnnrec.nn.base import Encoder, EncoderOutput
from gnnrec.nn.lightgcn import LightGCN
from gnnrec.nn.mf import MF
from gnnrec.nn.ngcf import NGCF
from gnnrec.nn.propagation import propagate
from gnnrec.nn.scorers import SCORERS, Cosine, Dot, Modulated, Scorer, make_scorer

#: model name -> encoder class (the CLI's ``--model`` choices)
MODELS = {"mf": MF, "lightgcn": LightGCN, "ngcf": NGCF}

__all__ = ["Encoder", "EncoderOutput", "MF", "LightGCN", "NGCF", "MODELS", "propagate",
           "Scorer", "Dot", "Cosine", "Modulated", "SCORERS", "make_scorer"]
