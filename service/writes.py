"""Write endpoints: add, replace and remove documents while the service runs.

Each call validates the input, updates corpus and index under the writer lock (in a
worker thread, so searches go on), and swaps the new index version in before it
returns, so the new document answers questions as soon as the call is done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from corpus.documents import MAX_DOCUMENT_BYTES, parse_meta, require_title_and_date, validate_doc_id
from corpus.errors import CorpusError, DocumentTooLarge, MalformedJson, RetrievalError
from corpus.legacy import repair_text
from corpus.originals import FileDocument, read_file
from index.embed import Embedder
from index.live import LiveIndex
from index.writer import Written, add_document, remove_document
from service.deps import Admin, Config, Live, WriterEmbedder
from service.schemas import WRITE_ERRORS, DocumentIn, DocumentWriteResult
from service.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = MAX_DOCUMENT_BYTES + 64_000  # the text plus its metadata fields
_FORM_FIELDS = ("file", "title", "published", "author", "url")
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string, e.g. a UUID: a retry with the same key and body gets the first answer.",
    ),
]
_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": DocumentIn.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "the document: .txt (UTF-8), .md, .html, .docx or .pdf (with a text layer); "
                        "title and date may come from the file",
                    },
                    "title": {"type": "string"},
                    "published": {"type": "string", "description": "YYYY-MM-DD"},
                    "author": {"type": "string"},
                    "url": {"type": "string"},
                },
            }
        },
    },
}


def write_routes() -> APIRouter:
    """Return the router of the write endpoints; each needs the admin bearer token."""
    router = APIRouter(dependencies=[Admin], tags=["documents (write)"], responses=WRITE_ERRORS)

    @router.post(
        "/documents",
        status_code=201,
        response_model=DocumentWriteResult,
        openapi_extra={"requestBody": _BODY},
        responses={200: {"model": DocumentWriteResult, "description": "The same document is already stored."}},
    )
    async def create_document(
        request: Request,
        response: Response,
        live: Live,
        settings: Config,
        embedder: WriterEmbedder,
        key: IdempotencyKey = None,
    ) -> DocumentWriteResult:
        """Add a document (JSON, or a multipart upload of a UTF-8 text file); answer with its new id.

        A retry with the same `Idempotency-Key` gets the first answer; a document whose
        metadata and text are already stored is answered with 200 and its id, not added twice.
        """
        document = await _read_document(request)
        meta = parse_meta("new", document.fields)  # the writer gives it an unused id under its lock
        written = await _in_writer(
            request,
            live,
            "add",
            add_document,
            settings,
            embedder,
            meta,
            document.raw,
            new_id=True,
            key=key,
            original=document,
        )
        if written.outcome == "unchanged":
            response.status_code = 200
        return await _result(written, live)

    @router.put("/documents/{doc_id}", response_model=DocumentWriteResult, openapi_extra={"requestBody": _BODY})
    async def replace_document(
        doc_id: str,
        request: Request,
        live: Live,
        settings: Config,
        embedder: WriterEmbedder,
        key: IdempotencyKey = None,
    ) -> DocumentWriteResult:
        """Replace a document's text and metadata."""
        document = await _read_document(request)
        meta = parse_meta(validate_doc_id(doc_id), document.fields)
        written = await _in_writer(
            request,
            live,
            "replace",
            add_document,
            settings,
            embedder,
            meta,
            document.raw,
            replace=True,
            key=key,
            original=document,
        )
        return await _result(written, live)

    @router.delete("/documents/{doc_id}", response_model=DocumentWriteResult)
    async def delete_document(
        request: Request,
        doc_id: str,
        live: Live,
        settings: Config,
        embedder: WriterEmbedder,
        key: IdempotencyKey = None,
    ) -> DocumentWriteResult:
        """Remove a document and its chunks."""
        written = await _in_writer(request, live, "remove", remove_document, settings, embedder, doc_id, key=key)
        return await _result(written, live)

    return router


async def _in_writer(
    request: Request,
    live: LiveIndex,
    operation: str,
    change: Callable[..., T],
    settings: Settings,
    embedder: Embedder,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run a corpus-and-index change in a worker thread, so searches go on meanwhile; count it in the metrics."""
    call = partial(
        change,
        settings.corpus_dir,
        settings.index_dir,
        embedder,
        settings.chunk_settings(),
        *args,
        dense=settings.dense_settings(),
        milvus=settings.milvus_settings(),
        ready=live.adopt,  # the swap after the write reuses what its check built
        **kwargs,
    )
    metrics = request.app.state.metrics
    started = time.perf_counter()
    try:
        with live.writing():
            written = await run_in_threadpool(call)
    except Exception as exc:
        refused = isinstance(exc, RetrievalError) and exc.status < 500  # the request's fault, not the service's
        metrics.updates.labels(operation, "refused" if refused else "failed").inc()
        raise
    metrics.update_seconds.labels(operation).observe(time.perf_counter() - started)
    metrics.updates.labels(operation, getattr(written, "outcome", "applied")).inc()
    return written


async def _result(written: Written, live: Live) -> DocumentWriteResult:
    report = written.report
    try:
        await run_in_threadpool(live.refresh)  # serve the new version before answering, not at the next poll
    except Exception:  # the change is published; the watcher will retry the swap
        log.exception("index version %s is published but could not be loaded yet", report.version)
    return DocumentWriteResult(
        doc_id=written.doc_id,
        index_version=report.version,
        documents=report.documents,
        chunks=report.chunks,
        added=report.added,
        removed=report.removed,
        embedded=report.embedded,
        seconds=round(report.seconds, 3),
    )


async def _read_document(request: Request) -> FileDocument:
    """Return the document of a JSON body or of a multipart upload (.txt, .md, .html, .docx or .pdf)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        # Without a length the body could only be bounded by reading it; clients send one.
        raise HTTPException(411, "a Content-Length header is required")
    if int(length) > MAX_REQUEST_BYTES:
        raise DocumentTooLarge(
            f"request body over {MAX_REQUEST_BYTES} bytes; documents are limited to {MAX_DOCUMENT_BYTES}"
        )
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=len(_FORM_FIELDS))
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise CorpusError("multipart upload needs a 'file' field holding the document")
        given = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v}
        name = upload.filename or "upload.txt"
        document = await run_in_threadpool(read_file, await upload.read(MAX_REQUEST_BYTES), name, given)
        require_title_and_date(document.fields, Path(name), how="send them as form fields")
        return document
    if content_type.startswith("application/json"):
        try:
            body = DocumentIn.model_validate(json.loads(await request.body()))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MalformedJson("the request body is not valid JSON") from None
        except RecursionError:
            raise MalformedJson("the request body nests too deeply to be a document") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            raise CorpusError(problems) from None
        if len(body.text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"text is over the {MAX_DOCUMENT_BYTES}-byte limit")
        # as a text file's would be: NFC, VNI lines converted, so the same words are the same document
        return FileDocument(body.model_dump(exclude={"text"}), repair_text(body.text), b"", ".txt")
    raise HTTPException(415, "send the document as application/json or multipart/form-data")
