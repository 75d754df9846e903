"""Negative samplers and synthesisers; every one returns negative embeddings."""
from gnnrec.sampling.base import NegativeSampler, Negatives
from gnnrec.sampling.uniform import RNS

#: sampler name -> class (the CLI's ``--sampler`` choices)
SAMPLERS = {"rns": RNS}

__all__ = ["NegativeSampler", "Negatives", "RNS", "SAMPLERS"]
