"""Encoders: matrix factorisation, LightGCN and NGCF."""
from gnnrec.nn.adjacency import NormalizedAdjacency, SymmetricSpMM
from gnnrec.nn.base import Encoder, EncoderOutput
from gnnrec.nn.lightgcn import LightGCN
from gnnrec.nn.mf import MF
from gnnrec.nn.ngcf import NGCF

#: model name -> encoder class (the CLI's ``--model`` choices)
MODELS = {"mf": MF, "lightgcn": LightGCN, "ngcf": NGCF}

__all__ = ["Encoder", "EncoderOutput", "MF", "LightGCN", "NGCF", "MODELS",
           "NormalizedAdjacency", "SymmetricSpMM"]
