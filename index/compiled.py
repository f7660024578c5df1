"""numba, with its cache of compiled functions kept beside viqa's other caches.

The postings loops of `index/maxscore.py` run a million passages' postings per query:
as numpy calls they would cost an allocation per term, compiled they cost a few
nanoseconds per posting. Compiling takes seconds, so it is cached on disk; the cache
goes in `$XDG_CACHE_HOME/viqa/numba` (not beside the code, numba's default), unless
NUMBA_CACHE_DIR says otherwise; code compiled to check its indexes goes in its `boundscheck`.
"""

from __future__ import annotations

import os
from pathlib import Path

_cache = Path(
    os.environ.get("NUMBA_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "viqa" / "numba"
)
# The tests compile every loop checking its indexes (tests/__init__.py): a write past an array's
# end raises instead of corrupting memory. numba's cache keys do not tell such code from the
# service's, so it is cached apart.
if os.environ.get("NUMBA_BOUNDSCHECK") == "1" and _cache.name != "boundscheck":
    _cache = _cache / "boundscheck"
os.environ["NUMBA_CACHE_DIR"] = str(_cache)

import numba  # noqa: E402

# numba reads its settings when first imported, and a module may have imported it before
# this one (ranx does, and `index/maxscore.py` itself, its imports being sorted): read again.
numba.config.reload_config()

# nogil: concurrent searches run their loops on both cores at once.
compiled = numba.njit(nogil=True, cache=True)
