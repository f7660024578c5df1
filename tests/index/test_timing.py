"""The clock of a search's candidate stage: calls made from two threads at once count once."""

import threading
import time

from index.timing import Clock


def test_calls_one_after_the_other_add_up() -> None:
    clock = Clock()
    clock.timed(time.sleep, 0.02)
    clock.timed(time.sleep, 0.02)
    assert clock.seconds >= 0.04


def test_calls_that_overlap_count_once() -> None:
    clock = Clock()
    outer_started, inner_done = threading.Event(), threading.Event()

    def outer() -> None:
        outer_started.set()
        assert inner_done.wait(10)

    started = time.perf_counter()
    thread = threading.Thread(target=clock.timed, args=(outer,))
    thread.start()
    assert outer_started.wait(10)
    clock.timed(time.sleep, 0.2)  # wholly inside the outer call
    inner_done.set()
    thread.join()
    elapsed = time.perf_counter() - started
    # Summed, the two calls would make at least 0.4 s; they ran within `elapsed`.
    assert 0.2 <= clock.seconds <= elapsed
