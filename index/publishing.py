"""What a new index version must pass before it is published, and what follows its publication.

A version is checked by loading it from its files and searching it (`check_servable`);
with Milvus it is also written there before the pointer moves, and the alias follows
after. The retriever the check built can go to the service that will serve the version.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from index.candidates import MemoryCandidates
from index.milvus import MilvusSettings
from index.milvus_versions import drop_versions_except, publish_alias, write_version
from index.search import Retriever, SearchConfig
from index.store import IndexVersion, published_versions

Ready = Callable[[Retriever], None]  # given the retriever a new version's check built


def check_servable(version: IndexVersion) -> Retriever:
    """Raise unless `version` can be served (build what searches read, run one in BM25: no model); return it.

    The retriever has no encoder and searches the in-memory stage (`MemoryCandidates`);
    `with_encoder` makes the one a service serves from it without building anything again.
    """
    retriever = Retriever.build(version, None)
    retriever.search("kiểm tra chỉ mục", 1, SearchConfig(mode="bm25"))
    return retriever


def publish_check(
    milvus: MilvusSettings | None, previous: IndexVersion | None = None, ready: Ready | None = None
) -> Callable[[IndexVersion], None]:
    """Return what a new version must pass before it is published: it serves, and with Milvus, it is written there.

    Args:
        previous: the version the new one is made from (Milvus then updates its collections in place).
        ready: is given the retriever the check built: a service then serves the version without building it again.
    """

    def check(version: IndexVersion) -> None:
        retriever = check_servable(version)
        if milvus is not None:
            write_version(milvus, version, cast(MemoryCandidates, retriever.candidates), previous)
        if ready is not None:
            ready(retriever)

    return check


def published(index_dir: Path, version: str, milvus: MilvusSettings | None) -> None:
    """Move the Milvus alias to `version`, and drop the collections of versions no longer kept."""
    if milvus is not None:
        publish_alias(milvus, version)
        drop_versions_except(milvus, set(published_versions(index_dir)))
