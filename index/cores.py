"""Work of one search spread over the machine's cores: a side pool, and calls both share.

The compiled BM25 loops and FAISS searches release the GIL, so a search's thread and a
side thread run them side by side. The search's thread never waits for the pool to get
round to its work: it does whatever no side thread has started.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy  # noqa: F401  (its BLAS is loaded before it is limited below)
from threadpoolctl import threadpool_limits

T = TypeVar("T")

# BLAS on the calling thread alone, like FAISS (`index/dense.py`). A search's products are one
# vector against a few thousand, too little work to share; and OpenBLAS's workers keep spinning
# on both cores for a while after each call, while the next search's BM25 loops run there. At a
# million synthetic passages those loops took 1.4 times their CPU time when searches followed
# each other; with this limit a search's p50 went from 165 and 152 ms to 125 and 134 ms (two
# runs of each, alternated).
threadpool_limits(1, user_api="blas")

SIDE = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="viqa-side")


def shared(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Return the result of each call, in order, made by this thread and a side thread together.

    Raises:
        the first failed call's exception, in this thread.
    """
    if len(calls) < 2:
        return [call() for call in calls]
    values: dict[int, T] = {}
    errors: list[BaseException] = []
    taken = itertools.count()  # next() is atomic under the GIL: each call is made once
    finished = threading.Condition()

    def work() -> None:
        while (i := next(taken)) < len(calls):
            try:
                value = calls[i]()
            except BaseException as error:  # raised again below, in the thread that waits
                with finished:
                    errors.append(error)
                    finished.notify_all()
                continue
            with finished:
                values[i] = value
                finished.notify_all()

    SIDE.submit(work)
    work()
    with finished:
        finished.wait_for(lambda: len(values) + len(errors) == len(calls))
    if errors:
        raise errors[0]
    return [values[i] for i in range(len(calls))]
