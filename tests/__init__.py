"""viqa's tests.

Every compiled loop checks its indexes here: one that writes past an array's end raises
IndexError instead of corrupting memory unseen (its cache is kept apart: `index/compiled.py`).
This runs before any test module imports numba.
"""

import os

os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
