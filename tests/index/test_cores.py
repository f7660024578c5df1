from __future__ import annotations

import json
import os
import subprocess
import sys
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


def test_a_process_that_searches_runs_blas_on_the_calling_thread_only() -> None:
    # Two BLAS threads asked for, as on a machine with two cores: importing the search's
    # cores module must bring them down to one (OpenBLAS's idle workers spin on the cores).
    script = (
        "import index.cores, json; from threadpoolctl import threadpool_info; "
        "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']))"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    threads = json.loads(out.stdout)
    assert threads and set(threads) == {1}
