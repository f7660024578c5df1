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

import numba  # noqa: E402

# numba reads its settings when first imported, and a module may have imported it before
# this one (ranx does, and `index/maxscore.py` itself, its imports being sorted): read again.
numba.config.reload_config()

# nogil: concurrent searches run their loops on both cores at once.
compiled = numba.njit(nogil=True, cache=True)
