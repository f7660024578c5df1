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


class DocumentTooLarge(CorpusError):
    """A document, or the request carrying it, is over the size limit."""

    status = 413


class MalformedJson(RetrievalError):
    """A request body is not JSON, or nests deeper than any request needs."""

    status = 400


class DocumentNotFound(RetrievalError):
    """No document has the requested id."""

    status = 404


class DocumentExists(RetrievalError):
    """A document with that id is already in the corpus."""

    status = 409


class IdempotencyConflict(RetrievalError):
    """An Idempotency-Key was sent again with another request."""

    status = 409


class TooManyRequests(RetrievalError):
    """A client sent more requests, or more failed tokens, than its limit allows; retry after a pause."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


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


class NotReady(RetrievalError):
    """The service is starting: no index version is loaded yet (or loading it failed)."""

    status = 503
    headers = {"Retry-After": "5"}
