"""Wall-clock time per phase of a training step (for ``gnnrec bench``)."""
import time
from collections import defaultdict
from typing import Dict

import torch


class PhaseClock:
    r"""Accumulates seconds per named phase. :meth:`start` marks the
    beginning of a step; each call ``clock("phase")`` charges the time since
    the previous mark to ``phase``. On CUDA the device is synchronised at
    every mark, so kernels are charged to the phase that launched them (which
    slows the step a little: the figures are for finding where time goes).

    Args:
        device (torch.device): the device the step runs on.
    """

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.device = device
        self.totals: Dict[str, float] = defaultdict(float)
        self._mark = None

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start(self) -> None:
        self._mark = self._now()

    def __call__(self, phase: str) -> None:
        if self._mark is None:
            return
        now = self._now()
        self.totals[phase] += now - self._mark
        self._mark = now

    def take(self) -> Dict[str, float]:
        """The totals so far, then reset."""
        out, self.totals = dict(self.totals), defaultdict(float)
        return out
