"""Negative samplers and synthesisers; every one returns negative embeddings."""
from gnnrec.sampling.ahns import AHNS
from gnnrec.sampling.base import NegativeSampler, Negatives, hardness
from gnnrec.sampling.dynamic import DNS
from gnnrec.sampling.mixgcf import MixGCF
from gnnrec.sampling.pdns import PDNS
from gnnrec.sampling.popularity import PNS
from gnnrec.sampling.uniform import RNS

#: sampler name -> class (the CLI's ``--sampler`` choices)
SAMPLERS = {"rns": RNS, "pns": PNS, "dns": DNS, "mixgcf": MixGCF, "pdns": PDNS, "ahns": AHNS}

__all__ = ["NegativeSampler", "Negatives", "hardness", "RNS", "PNS", "DNS", "MixGCF", "PDNS",
           "AHNS", "SAMPLERS"]
