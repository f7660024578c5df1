"""Where numba keeps the compiled loops: viqa's cache directory, whoever imported numba first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_compiled_loops_are_cached_in_viqas_cache_even_when_numba_was_imported_first(tmp_path: Path) -> None:
    script = (
        "import numba, numpy as np\n"  # as ranx does, before any viqa module
        "from index.maxscore import term_peaks\n"
        "term_peaks(np.array([0, 1]), np.array([0], np.int32), np.array([2], np.uint16), np.ones(1, np.float32))\n"
        "print(numba.config.CACHE_DIR)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    cache = tmp_path / "viqa" / "numba"
    assert out.stdout.strip() == str(cache)
    assert any(p.name.startswith("maxscore.term_peaks") for p in cache.rglob("*.nbi"))
