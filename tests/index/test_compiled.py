"""Where numba keeps the compiled loops: viqa's cache, whoever imported numba first; the tests' checked loops apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def test_the_compiled_loops_are_cached_in_viqas_cache_even_when_numba_was_imported_first(tmp_path: Path) -> None:
    script = (
        "import numba, numpy as np\n"  # as ranx does, before any viqa module
        "from index.maxscore import term_peaks\n"
        "term_peaks(np.array([0, 1]), np.array([0], np.int32), np.array([2], np.uint16), np.ones(1, np.float32))\n"
        "print(numba.config.CACHE_DIR)\n"
    )
    unset = ("NUMBA_CACHE_DIR", "NUMBA_BOUNDSCHECK")  # the service's cache, as it runs
    env = {k: v for k, v in os.environ.items() if k not in unset} | {"XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    cache = tmp_path / "viqa" / "numba"
    assert out.stdout.strip() == str(cache)
    assert any(p.name.startswith("maxscore.term_peaks") for p in cache.rglob("*.nbi"))


def test_the_tests_compile_loops_that_check_their_indexes() -> None:
    # maxscore's postings loop writes a row one past the rows found: without its spare
    # slot, visiting every posting of rows all found already would write past the array.
    from index.compiled import compiled

    @compiled
    def write(values, at):  # type: ignore[no-untyped-def]
        values[at] = 1
        return values

    with pytest.raises(IndexError):
        write(np.zeros(3), 3)


def test_code_checking_its_indexes_is_cached_apart_from_the_services(tmp_path: Path) -> None:
    script = "import index.compiled, numba\nprint(numba.config.CACHE_DIR, numba.config.BOUNDSCHECK)\n"
    for checked, cache in (("0", tmp_path), ("1", tmp_path / "boundscheck")):
        env = os.environ | {"NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_BOUNDSCHECK": checked}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == [str(cache), checked]
