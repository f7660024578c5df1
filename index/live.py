"""The index a process serves: one embedder, the published version, swapped in place."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from corpus.chunk import ChunkSettings
from index.build import chunker_config
from index.embed import Embedder
from index.search import Hit, search
from index.store import IndexVersion, check_compatible, current_version, load_version

log = logging.getLogger(__name__)


class LiveIndex:
    """Serves the published version; `refresh` swaps in a newer one between requests."""

    def __init__(self, index_dir: Path, embedder: Embedder, settings: ChunkSettings) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self._chunker = chunker_config(settings)
        self._lock = threading.Lock()
        self._version = self._load(None)

    @property
    def version(self) -> IndexVersion:
        """Return the version being served; callers keep it for the whole request."""
        return self._version

    def search(self, query: str, top_k: int) -> list[Hit]:
        """Return the top passages for `query` from the version being served."""
        return search(self._version, self.embedder, query, top_k)

    def refresh(self) -> bool:
        """Load the published version if it is newer than the served one; return True if swapped."""
        with self._lock:
            published = current_version(self.index_dir)
            if published is None or published == self._version.version:
                return False
            self._version = self._load(published)
            log.info("now serving index version %s", published)
            return True

    def _load(self, version: str | None) -> IndexVersion:
        loaded = load_version(self.index_dir, version)
        check_compatible(loaded.manifest, self.embedder.name, self.embedder.dim, self._chunker)
        return loaded
