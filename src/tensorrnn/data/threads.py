"""The loading threads of this process: one pool per thread count, shared by the work that
builds a training batch (the samples of :meth:`~tensorrnn.data.datasets.VideoClipDataset.__getitems__`,
the clips of :func:`~tensorrnn.data.transforms.augment_batch`). JPEG decoding, numpy and torch's
kernels release the GIL, so threads share a batch's clips over the CPU cores. A forked
DataLoader worker makes its own pools: the parent's threads do not exist there.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child (a DataLoader worker): the parent's threads do not exist here."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """This process's pool of ``threads`` loading threads (made on first use)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="tensorrnn-load")
    return pool


def map_shares(work: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``[work(item) for item in items]``, the items cut into ``threads`` contiguous shares, one
    share a thread (fewer hand-overs than a task per item); in this thread when ``threads <= 1``."""
    threads = min(threads, len(items))
    if threads <= 1:
        return [work(item) for item in items]
    shares = [items[len(items) * k // threads:len(items) * (k + 1) // threads] for k in range(threads)]
    done = thread_pool(threads).map(lambda share: [work(item) for item in share], shares)
    return [result for share in done for result in share]
