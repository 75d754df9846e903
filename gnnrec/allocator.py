"""Keeps glibc from handing the large per-step buffers back to the system."""
import ctypes
import ctypes.util
import os
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

#: buffers up to this size come from the heap (by default glibc adapts it, up
#: to 32 MB, and maps larger ones afresh on every allocation)
MMAP_THRESHOLD = 256 * 2 ** 20
#: free memory at the top of the heap kept for the next step
TRIM_THRESHOLD = 1024 * 2 ** 20


def keep_freed_memory() -> bool:
    r"""Sets glibc's ``M_MMAP_THRESHOLD`` (256 MB) and ``M_TRIM_THRESHOLD``
    (1 GB) for this process; ``True`` when they were set.

    A CPU training step allocates and frees buffers of the size of an
    embedding table every time (Gowalla: 18 MB for each dense gradient of
    the 70,839 x 64 table). With glibc's defaults such a buffer is, step
    after step and depending on what else was freed, either reused from the
    heap or returned to the system and faulted in again page by page: in a
    bare loop of MF + RNS steps on Gowalla the same backward pass took
    2.3 ms or, for whole stretches, 6-12 ms. Keeping freed memory in the heap
    makes every step the fast one; the price is that up to 1 GB of freed
    memory stays with the process. ``benchmarks/allocator.py`` measures
    ``gnnrec bench`` epochs both ways (benchmarks/README.rst, section 4).

    Does nothing (``False``) off glibc, when the user set any ``MALLOC_*``
    tuning variable, or with ``GNNREC_KEEP_FREED=0``.
    """
    if os.environ.get("GNNREC_KEEP_FREED", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # both or neither: a fixed trim threshold alone turns off glibc's dynamic
    # mmap threshold, and every such buffer is then mapped afresh (slower still)
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            or mallopt(_M_MMAP_THRESHOLD, 32 * 2 ** 20)):  # older glibc's ceiling
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
