"""Documents on disk: `<doc_id>.txt` as published plus `<doc_id>.json` metadata.

A corpus directory holds one pair of files per document. The text file is kept
exactly as captured; the JSON sidecar gives its title, publication date, author
and source URL. Adding a document is dropping such a pair into the directory.

A document may also be dropped in as `<doc_id>.md`, `.html`, `.docx` or `.pdf`: its
text is extracted when the corpus is read (corpus/formats.py), its metadata comes from
the file and the sidecar, which is then optional and overrides the file. Documents
added through the CLI or the API are stored as text and sidecar, with the file they
came from kept as `originals/<doc_id><suffix>` (corpus/originals.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corpus.clean import CleanedText, clean_text
from corpus.errors import CorpusError, DocumentExists
from corpus.formats import SUFFIXES, extract
from corpus.legacy import decode_document

DOC_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_DOCUMENT_BYTES = 2_000_000
_META_FIELDS = ("title", "published", "author", "url")
ORIGINALS = "originals"  # the files documents were added from (corpus/originals.py)


@dataclass(frozen=True)
class DocumentMeta:
    """What a citation says about a document."""

    doc_id: str
    title: str
    published: dt.date
    author: str | None = None
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the sidecar/API form: ISO date, no doc_id."""
        data = asdict(self)
        del data["doc_id"]
        data["published"] = self.published.isoformat()
        return data


@dataclass(frozen=True)
class Document:
    """A document as published and as cleaned."""

    meta: DocumentMeta
    raw: str
    cleaned: CleanedText

    @property
    def doc_id(self) -> str:
        return self.meta.doc_id

    @property
    def text(self) -> str:
        return self.cleaned.text


def validate_doc_id(doc_id: str) -> str:
    """Return `doc_id` if it is a safe file stem, else raise CorpusError."""
    if not DOC_ID_PATTERN.match(doc_id):
        raise CorpusError(
            f"invalid document id {doc_id!r}: use 1-120 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return doc_id


def parse_meta(doc_id: str, data: dict[str, Any]) -> DocumentMeta:
    """Return validated metadata from a sidecar or request body."""
    for key, value in data.items():
        if isinstance(value, str):
            check_text(value, f"document {doc_id!r}: {key}")
    unknown = set(data) - set(_META_FIELDS)
    if unknown:
        raise CorpusError(f"unknown metadata field(s) {sorted(unknown)}; allowed: {list(_META_FIELDS)}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise CorpusError(f"document {doc_id!r} has no title")
    published = data.get("published")
    try:
        if not _ISO_DATE.match(str(published)):  # fromisoformat also takes "20250101"
            raise ValueError
        date = dt.date.fromisoformat(str(published))
    except ValueError:
        raise CorpusError(f"document {doc_id!r}: published {published!r} is not a date (YYYY-MM-DD)") from None
    optional = {k: data.get(k) for k in ("author", "url")}
    for key, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise CorpusError(f"document {doc_id!r}: {key} must be a string")
    return DocumentMeta(validate_doc_id(doc_id), title.strip(), date, optional["author"], optional["url"])


def require_title_and_date(fields: dict[str, Any], path: Path, how: str | None = None) -> None:
    """Raise CorpusError naming `path` and how to give its title or date if `fields` lack them.

    Args:
        how: how to give them (default: the CLI's flags or a sidecar).
    """
    missing = [name for name in ("title", "published") if not fields.get(name)]
    if missing and how:
        raise CorpusError(f"{path.name} has no {' and no '.join(missing)} in it: {how}")
    if missing:
        flags, sidecar = " and ".join(f"--{name}" for name in missing), path.with_suffix(".json").name
        raise CorpusError(
            f"{path} has no {' and no '.join(missing)}: give {flags}, or write them in {sidecar} beside it "
            '({"title": "...", "published": "YYYY-MM-DD"})'
        )


def decode_text(data: bytes, name: str) -> str:
    """Return the text of `data`, legacy encodings (VNI, VISCII) converted, or raise CorpusError naming `name`."""
    return decode_document(data, name)


def check_text(text: str, what: str) -> str:
    """Return `text` if it can be stored and read back as UTF-8 text, else raise CorpusError naming `what`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. "\ud800" in JSON
        raise CorpusError(
            f"{what} holds an invalid character (U+{ord(text[exc.start]):04X}, a lone surrogate)"
        ) from None
    if "\x00" in text:
        raise CorpusError(f"{what} holds NUL characters: it is not text")
    return text


def make_document(meta: DocumentMeta, raw: str) -> Document:
    """Return the document with its cleaned text; raise CorpusError if nothing is left."""
    check_text(raw, f"document {meta.doc_id!r}")
    cleaned = clean_text(raw, meta.title)
    if not cleaned.text.strip():
        raise CorpusError(f"document {meta.doc_id!r} has no text after cleaning")
    return Document(meta, raw, cleaned)


def read_document(path: Path) -> Document:
    """Return the document stored as `path` (its text, or a file of another format) and its JSON sidecar."""
    doc_id = validate_doc_id(path.stem)
    data = read_sidecar(path)
    if path.suffix == ".txt":
        if data is None:
            raise CorpusError(f"{path.name} has no metadata file {path.with_suffix('.json').name} beside it")
        raw = decode_text(path.read_bytes(), path.name)
    else:
        extracted = extract(path.read_bytes(), path.name)
        data = extracted.meta | (data or {})
        require_title_and_date(data, path)
        raw = extracted.text
    return make_document(parse_meta(doc_id, data), raw)


def read_sidecar(text_path: Path) -> dict[str, Any] | None:
    """Return the JSON object beside `text_path` (`<name>.json`), or None if there is none."""
    meta_path = text_path.with_suffix(".json")
    if not meta_path.exists():
        return None
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{meta_path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{meta_path.name} must hold a JSON object")
    return data


def document_paths(corpus_dir: Path) -> list[Path]:
    """Return the document files of `corpus_dir` (one per id, of any readable format), sorted by id."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (set VIQA_CORPUS_DIR or --corpus-dir)")
    by_id: dict[str, Path] = {}
    for path in sorted(corpus_dir.iterdir()):
        if path.suffix not in SUFFIXES or path.name.startswith(".") or not path.is_file():
            continue
        if path.stem in by_id:
            raise CorpusError(f"{by_id[path.stem].name} and {path.name} are both document {path.stem!r}: keep one")
        by_id[path.stem] = path
    return [by_id[doc_id] for doc_id in sorted(by_id)]


def source_path(corpus_dir: Path, doc_id: str) -> Path | None:
    """Return the file document `doc_id` is read from, or None if there is none."""
    found = [corpus_dir / f"{doc_id}{suffix}" for suffix in SUFFIXES if (corpus_dir / f"{doc_id}{suffix}").is_file()]
    return found[0] if found else None


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Return every document of `corpus_dir`, sorted by id."""
    return [read_document(path) for path in document_paths(corpus_dir)]


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Return a hash of every document and sidecar in `corpus_dir`."""
    digest = hashlib.sha256()
    for path in document_paths(corpus_dir):
        for part in (path, path.with_suffix(".json")):
            digest.update(part.name.encode())
            digest.update(part.read_bytes() if part.exists() else b"")
    return digest.hexdigest()


def pipeline_fingerprint() -> str:
    """Return a hash of the code that turns documents into chunks; a change means re-chunking."""
    digest = hashlib.sha256()
    for name in ("normalize.py", "tcvn3.py", "clean.py", "chunk.py", "documents.py", "formats.py", "legacy.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def write_sidecar(corpus_dir: Path, doc_id: str, meta: dict[str, Any]) -> None:
    """Store a document's metadata; write it before the text (a text without its sidecar fails the load)."""
    write_atomic(corpus_dir / f"{doc_id}.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")


def write_text(corpus_dir: Path, doc_id: str, raw: str) -> None:
    """Store a document's text as published."""
    write_atomic(corpus_dir / f"{doc_id}.txt", raw)


def stored_content(corpus_dir: Path, doc_id: str) -> tuple[dict[str, Any], str] | None:
    """Return a document's sidecar object and text as stored, or None if it has no text file."""
    text_path = corpus_dir / f"{doc_id}.txt"
    if not text_path.exists():
        other = source_path(corpus_dir, doc_id)
        if other is not None:  # written by hand, so changed by hand: the write API could not put it back
            raise DocumentExists(
                f"document {doc_id!r} is the file {other.name} in the corpus directory; "
                "change or remove that file there and run `viqa index`"
            )
        return None
    return read_sidecar(text_path) or {}, decode_text(text_path.read_bytes(), text_path.name)


def corpus_debris(corpus_dir: Path) -> list[Path]:
    """Return files a crashed write left behind: temporary files, sidecars and originals without their text."""
    if not corpus_dir.is_dir():
        return []
    temporary = [p for p in corpus_dir.glob(".*.tmp") if p.is_file()]
    orphans = [p for p in corpus_dir.glob("*.json") if source_path(corpus_dir, p.stem) is None]
    kept = [p for p in corpus_dir.glob(f"{ORIGINALS}/*") if not p.name.startswith(".")]  # .tmp: being written
    orphans += [p for p in kept if source_path(corpus_dir, p.stem) is None]
    return sorted(temporary + orphans)


def fsync(path: Path) -> None:
    """Flush a file's or a directory's entries to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, content: str | bytes) -> None:
    """Replace `path` with `content` whole or not at all, durably."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
