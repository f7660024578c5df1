"""numba, with its cache of compiled functions kept beside viqa's other caches.

The postings loops of `index/maxscore.py` run a million passages' postings per query:
as numpy calls they would cost an allocation per term, compiled they cost a few
nanoseconds per posting. Compiling takes seconds, so it is cached on disk; the cache
goes in `$XDG_CACHE_HOME/viqa/numba` (not beside the code, numba's default), unless
NUMBA_CACHE_DIR says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "viqa" / "numba")
)

import numba  # noqa: E402  (reads NUMBA_CACHE_DIR when imported)

# nogil: concurrent searches run their loops on both cores at once.
compiled = numba.njit(nogil=True, cache=True)
