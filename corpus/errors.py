"""The errors viqa raises, in one hierarchy; the service maps each to an HTTP status."""

from __future__ import annotations

from collections.abc import Mapping


class RetrievalError(Exception):
    """Base of every error viqa raises on purpose."""

    status = 500
    headers: Mapping[str, str] = {}  # sent with the error response


class CorpusError(RetrievalError):
    """A document or its metadata is missing, malformed or not allowed."""

    status = 422


class DocumentNotFound(RetrievalError):
    """No document has the requested id."""

    status = 404


class DocumentExists(RetrievalError):
    """A document with that id is already in the corpus."""

    status = 409


class IndexNotFound(RetrievalError):
    """No published index exists in the index directory."""

    status = 503


class IndexMismatch(RetrievalError):
    """The index on disk was built with other settings, or its files disagree."""

    status = 503


class IndexBusy(RetrievalError):
    """Another writer holds the index lock."""

    status = 409


class InvalidQuery(RetrievalError):
    """The query is empty, too long, or asks for an unsupported number of results."""

    status = 422


class Overloaded(RetrievalError):
    """More searches are waiting than the service admits; the client should retry shortly."""

    status = 503
    headers = {"Retry-After": "1"}
