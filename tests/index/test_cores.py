from __future__ import annotations

import threading
import time

import pytest

from index.cores import shared


def test_shared_calls_are_made_once_each_and_answered_in_order() -> None:
    made: list[int] = []
    threads: set[str] = set()

    def call(i: int) -> int:
        made.append(i)
        threads.add(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the side thread to take some
        return i * i

    assert shared([lambda i=i: call(i) for i in range(12)]) == [i * i for i in range(12)]
    assert sorted(made) == list(range(12))
    assert len(threads) == 2  # this thread and a side thread


def test_a_failing_call_raises_in_the_waiting_thread() -> None:
    def fail() -> int:
        raise ValueError("segment 3 is damaged")

    with pytest.raises(ValueError, match="segment 3"):
        shared([lambda: 1, fail, lambda: 2])
