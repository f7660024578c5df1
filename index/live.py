"""The index a process serves: one query encoder, the published version, swapped in place."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from corpus.chunk import ChunkSettings
from corpus.errors import IndexNotFound
from index.build import check_compatible, chunker_config
from index.encoder import QueryEncoder
from index.filters import SearchFilter
from index.search import Engine, Retriever, SearchConfig, SearchOutcome
from index.store import IndexVersion, current_version, load_version, published_versions

log = logging.getLogger(__name__)


class LiveIndex:
    """Serves the published version; `refresh` swaps in a newer one between requests."""

    def __init__(
        self,
        index_dir: Path,
        encoder: QueryEncoder,
        settings: ChunkSettings,
        config: SearchConfig | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.encoder = encoder
        self.config = config or SearchConfig()
        self._chunker = chunker_config(settings)
        self._engine = engine
        self._lock = threading.Lock()
        self._rejected: str | None = None
        self._checked: Retriever | None = None  # a version a write here checked and published, not yet served
        self._writes = 0  # writes of this process under way (see `writing`)
        self._writes_lock = threading.Lock()
        self.problem: str | None = None  # why an older version than the published one is served
        self._retriever = self._first_loadable()

    @property
    def retriever(self) -> Retriever:
        """Return the retriever being served; callers keep it for the whole request."""
        return self._retriever

    @property
    def version(self) -> IndexVersion:
        return self._retriever.version

    def search(
        self, query: str, top_k: int, config: SearchConfig | None = None, search_filter: SearchFilter | None = None
    ) -> SearchOutcome:
        """Return the top passages for `query` from the version being served."""
        return self._retriever.search(query, top_k, config or self.config, search_filter)

    def refresh(self) -> bool:
        """Load the published version if it is newer than the served one; return True if swapped."""
        with self._lock:
            published = current_version(self.index_dir)
            if published is None or published in (self.version.version, self._rejected):
                return False
            try:
                self._retriever = self._load(published)
            except Exception as exc:
                self._rejected = published  # not retried until another version is published
                self.problem = f"index version {published} cannot be loaded ({exc}); serving {self.version.version}"
                raise
            self.problem = None
            log.info("now serving index version %s", published)
            return True

    def adopt(self, checked: Retriever) -> None:
        """Keep the retriever a write built to check the version it published: `refresh` serves it next."""
        with self._lock:
            if checked.version.version != self.version.version:  # not already loaded by the watcher
                self._checked = checked

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the watcher off while a write of this process runs.

        The write hands over the retriever its check built (`adopt`) only once its version is
        published; a poll in between would build that version a second time (seconds of work
        at a million passages).
        """
        with self._writes_lock:
            self._writes += 1
        try:
            yield
        finally:
            with self._writes_lock:
                self._writes -= 1

    def watch(self, interval: float) -> threading.Event:
        """Poll for newly published versions every `interval` seconds; set the returned event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                if self._writes:
                    continue  # the write serves its version itself, from what it built
                try:
                    self.refresh()
                except Exception:  # a bad new version must not stop the service serving the old one
                    log.exception(
                        "could not load the newly published index version; still serving %s", self.version.version
                    )

        threading.Thread(target=loop, name="viqa-index-watch", daemon=True).start()
        return stop

    def _first_loadable(self) -> Retriever:
        """Return the published version's retriever or, if it cannot load, the newest older one that can."""
        try:
            return self._load(None)
        except IndexNotFound:
            raise
        except Exception as exc:
            published = current_version(self.index_dir)
            for older in published_versions(self.index_dir):
                if published is not None and older >= published:  # names sort by time
                    continue
                try:
                    retriever = self._load(older)
                except Exception:
                    continue
                self._rejected = published
                self.problem = f"index version {published} cannot be loaded ({exc}); serving {older}"
                log.error("%s", self.problem)
                return retriever
            raise

    def _load(self, version: str | None) -> Retriever:
        checked, self._checked = self._checked, None
        if checked is not None and checked.version.version == version:
            loaded = checked.version  # loaded from its files by the write's check moments ago
        else:
            checked, loaded = None, load_version(self.index_dir, version)
        embedder = self.encoder.embedder
        check_compatible(loaded.manifest, embedder.name, embedder.dim, self._chunker)
        if checked is not None:
            return checked.with_encoder(self.encoder, self._engine)
        return Retriever.build(loaded, self.encoder, self._engine)
