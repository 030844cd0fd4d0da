"""Keep freed memory in the process's heap, where the next batch reuses it.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MB, adjusted at
run time) with a fresh ``mmap`` and unmaps it when it is freed. A training step allocates and
frees blocks of the batch's size many times over (16 clips of 12 frames of 160x120x3 pixels
are 44 MB in float32: the differences, the normalised input, the stem's output, their
gradients), so each of them page-faults again on every step: the kernel zeroes 11,000 pages
for each, in the process's CPU time. :func:`keep_freed_memory` raises the mmap and trim
thresholds (``mallopt``) so that such blocks come from the heap and stay there once freed.

Measured (``docs/cli.md``, Conventions, "Memory and speed"): a training epoch of the UCF11 TT-GRU config on
384 generated clips, 2 cores, 8.7 -> 4.8 CPU seconds. The cost: the process keeps up to
``limit`` bytes of freed memory (its resident size stays at its peak).

``tensorrnn`` calls it once at start (``TENSORRNN_KEEP_HEAP=0`` turns it off); a script that
trains in its own process may call it first thing, before the first large tensor.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ENV", "keep_freed_memory"]

#: Environment variable that turns :func:`keep_freed_memory` off when it is ``0``.
ENV = "TENSORRNN_KEEP_HEAP"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3          # glibc's malloc.h


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Let glibc serve blocks up to ``limit`` bytes from the heap and keep up to ``limit``
    bytes freed at its top (at most 2 GiB - 1: ``mallopt`` takes an ``int``). True if set;
    False where it does nothing: not Linux with glibc, or ``TENSORRNN_KEEP_HEAP=0``.

    Call it before the first large tensor: blocks already mapped are unmapped when freed.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit={limit!r}: expected a positive number of bytes")
    if os.environ.get(ENV, "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):                   # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    limit = min(limit, 2**31 - 1)
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
