"""`viqa bench scale`: an index of N synthetic passages, built, loaded, searched and updated.

The parent process builds the collection (`eval/synthetic.py`) and its index in a
temporary directory; a fresh child process then loads it, as a service starting up
would, so its load time and memory are those of serving alone. The child times
searches without the query embedding (every question is embedded once beforehand and
served from the encoder's cache), compares the served top 10 with exhaustive scoring
(every passage in every signal, exact vector search), then adds one 20-passage document
while a thread keeps searching the previous version, and removes it again: a few times,
so the searches timed during the adds are enough for a p99.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import pickle
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_report import latency_json, machine_facts, summarize
from eval.synthetic import Pool, documents, generate, make_pool, text_index
from index.dense import DenseSettings
from index.embed import Embedder, load_embedder
from index.encoder import EncoderSettings, QueryEncoder
from index.milvus import MilvusSettings, disconnect
from index.milvus_search import MilvusCandidates
from index.milvus_versions import write_version
from index.publishing import publish_check
from index.search import Retriever, SearchConfig
from index.segments import publish, write_new_segment
from index.store import IndexVersion, load_version, save_version

PER_DOCUMENT = 200  # passages per synthetic document: about 5,000 documents at a million passages
SEGMENT_PASSAGES = 250_000  # passages per segment of the synthetic index (what one build holds in memory)
ADDED = 20  # passages of the document added and removed
TOP_K = 10
ADD_ROUNDS = 20  # most times the document is added and removed (medians reported) to time searches during adds


def run_scale_bench(
    version: IndexVersion,
    embedder: Embedder,
    embedder_spec: str,
    questions: Sequence[str],
    passages: int,
    *,
    dense: DenseSettings,
    config: SearchConfig,
    searches: int = 500,
    recall_queries: int = 200,
    searches_during_add: int = 100,
    workdir: Path | None = None,
    seed: int = 0,
    backend: str = "faiss",
) -> dict[str, Any]:
    """Build an index of `passages` synthetic passages from `version`'s sentences and measure it.

    Args:
        searches_during_add: the document is added (and removed) again, up to `ADD_ROUNDS`
            times, until this many searches have been timed during the adds.
        backend: "milvus" also writes the index to Milvus Lite (a file in the temporary
            directory, its time in `build_s` and `milvus_write_s`) and searches through it.
    """
    rng = np.random.default_rng(seed)
    _progress(f"scale bench: {passages} passages")
    pool = make_pool(version)
    extra = _extra_document(pool, rng)
    embed_started = time.perf_counter()
    embedder.embed_passages([c.text for c in extra[0]])
    embed_s = time.perf_counter() - embed_started
    root = Path(tempfile.mkdtemp(prefix="viqa-scale-", dir=workdir))
    index_dir = root / "index"
    generate_s = build_s = 0.0
    try:
        entries, documents_count = [], 0
        for part, start in enumerate(range(0, passages, SEGMENT_PASSAGES)):
            # A segment at a time: the generated text of a million passages does not fit in memory.
            started = time.perf_counter()
            synthetic = generate(pool, min(SEGMENT_PASSAGES, passages - start), rng)
            chunks, stored, spans = documents(pool, synthetic, PER_DOCUMENT, f"tai-lieu-{part}")
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            text = text_index(pool, synthetic, chunks, spans, {d.meta.doc_id: d.text for d in stored})
            entries.append(write_new_segment(index_dir, chunks, stored, synthetic.vectors, dense, text))
            documents_count += len(stored)
            build_s += time.perf_counter() - started
            _progress(f"segment {part + 1}: {start + len(chunks)} passages, built in {build_s:.1f} s")
            del synthetic, chunks, stored, spans, text
        started = time.perf_counter()
        fields = dataclasses.asdict(version.manifest)
        for key in ("format_version", "created_at", "segments"):
            del fields[key]
        fields.update(corpus_fingerprint="synthetic", document_count=documents_count, chunk_count=passages)
        milvus = None
        if backend == "milvus":  # the graphs the bench's dense settings make
            milvus = MilvusSettings(
                str(root / "milvus.db"), hnsw_m=dense.hnsw_m, hnsw_ef_construction=dense.hnsw_ef_construction
            )
        built = load_version(index_dir, save_version(index_dir, entries, fields))
        build_s += time.perf_counter() - started
        milvus_write_s = 0.0
        if milvus is not None:
            started = time.perf_counter()
            write_version(milvus, built)
            milvus_write_s = time.perf_counter() - started
            build_s += milvus_write_s
            disconnect(milvus)  # Milvus Lite serves one process: the child opens it
            _progress(f"written to Milvus Lite in {milvus_write_s:.1f} s")
        del built
        disk_mb = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20
        payload = root / "payload.pickle"
        payload.write_bytes(pickle.dumps((extra, fields, dense, config, list(questions), milvus)))
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as child:
            measured = child.apply(
                _measure, (index_dir, embedder_spec, payload, searches, recall_queries, searches_during_add)
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "kind": "scale",
        "chunks": passages,
        "documents": documents_count,
        "segments": len(entries),
        "generate_s": round(generate_s, 2),
        "build_s": round(build_s, 2),
        "disk_mb": round(disk_mb, 1),
        "embed_s": round(embed_s, 3),
        "backend": backend,
        "milvus_write_s": round(milvus_write_s, 2),
        "dense": dense.layout(passages),
        "hnsw_ef_search": config.hnsw_ef_search,
        "candidates": config.candidates,
        **measured,
        "machine": machine_facts(),
    }


def _extra_document(pool: Pool, rng: np.random.Generator) -> tuple[list[Any], list[Any], np.ndarray]:
    synthetic = generate(pool, ADDED, rng)
    chunks, stored, _ = documents(pool, synthetic, ADDED, "tai-lieu-moi")
    return chunks, stored, synthetic.vectors


def _measure(
    index_dir: Path, embedder_spec: str, payload: Path, searches: int, recall_queries: int, searches_during_add: int
) -> dict[str, Any]:
    """In a fresh process: load the index, time searches, check recall, add and remove a document."""
    extra, fields, dense, config, questions, milvus = pickle.loads(payload.read_bytes())
    encoder = QueryEncoder(load_embedder(embedder_spec), EncoderSettings(cache_size=max(4096, len(questions))))
    engine = None if milvus is None else functools.partial(MilvusCandidates.open, settings=milvus)
    before = _rss_mb()
    started = time.perf_counter()
    version = load_version(index_dir)
    retriever = Retriever.build(version, encoder, engine)
    load_s = time.perf_counter() - started
    rss_mb = _rss_mb()
    _progress(f"loaded in {load_s:.1f} s, {rss_mb:.0f} MB")
    for question in questions:  # embeds every question once: the timed searches read the cache
        retriever.search(question, TOP_K, config)
    latencies = [_timed(retriever, questions[i % len(questions)], config) for i in range(searches)]
    _progress(f"searches: p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms")
    exhaustive = dataclasses.replace(config, candidates=0)
    reference = Retriever.build(version, encoder) if engine else retriever  # exact: every row of every signal
    recall = [_overlap(retriever, reference, q, config, exhaustive) for q in questions[:recall_queries]]

    _progress(f"recall@10 {np.mean(recall) if recall else float('nan'):.3f} over {len(recall)} questions")
    during: list[float] = []
    adds: list[float] = []
    removes: list[float] = []
    swap_s = 0.0

    def keep_searching(stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            during.append(_timed(retriever, questions[i % len(questions)], config))
            i += 1

    def add(base: IndexVersion) -> None:  # checked (and written to Milvus) as the service does before publishing
        publish(index_dir, base, [], (extra[0], extra[1], extra[2]), dense, fields, publish_check(milvus, base))

    def remove(added: IndexVersion) -> None:
        publish(index_dir, added, [extra[1][0].meta.doc_id], None, dense, fields, publish_check(milvus, added))

    # A first add and remove, untimed. Where numba's cache does not hold the loops a write
    # runs (a fresh machine, changed code), the first add compiles them, once per machine:
    # 9.2 s at 10,000 passages against 0.4 s compiled, and it was the only round timed.
    add(version)
    remove(load_version(index_dir))
    version = load_version(index_dir)
    # An add takes about as long as a few searches at a million passages: one add alone
    # leaves p99 during it to a handful of samples, so the document is added and removed again.
    while not adds or (len(during) < searches_during_add and len(adds) < ADD_ROUNDS):
        stop = threading.Event()
        searcher = threading.Thread(target=keep_searching, args=(stop,))
        searcher.start()
        started = time.perf_counter()
        add(version)
        adds.append(time.perf_counter() - started)
        stop.set()
        searcher.join()
        started = time.perf_counter()
        added = load_version(index_dir)
        if len(adds) == 1:  # the service's swap: the new version loaded beside the one it serves
            Retriever.build(added, encoder, engine)
            swap_s = time.perf_counter() - started
        started = time.perf_counter()
        remove(added)
        removes.append(time.perf_counter() - started)
        version = load_version(index_dir)
    encoder.close()
    search = summarize(latencies)
    return {
        "load_s": round(load_s, 2),
        "rss_mb": round(rss_mb, 1),
        "index_rss_mb": round(rss_mb - before, 1),
        "search_p50_ms": round(search.p50_ms, 2),
        "search_p99_ms": round(search.p99_ms, 2),
        "search": latency_json(search),
        "recall_at_10": round(float(np.mean(recall)), 4) if recall else None,
        "recall_queries": len(recall),
        "add_s": round(float(np.median(adds)), 3),
        "swap_s": round(swap_s, 3),
        "remove_s": round(float(np.median(removes)), 3),
        "add_rounds": len(adds),
        "search_p99_during_add_ms": round(summarize(during).p99_ms, 2) if during else None,
        "searches_during_add": len(during),
    }


def _progress(message: str) -> None:
    sys.stderr.write(message + "\n")  # progress of a run that takes long at a million passages
    sys.stderr.flush()


def _timed(retriever: Retriever, question: str, config: SearchConfig) -> float:
    started = time.perf_counter()
    retriever.search(question, TOP_K, config)
    return (time.perf_counter() - started) * 1000


def _overlap(
    retriever: Retriever, reference: Retriever, question: str, served: SearchConfig, exhaustive: SearchConfig
) -> float:
    """Return the share of the exhaustive top 10 (of `reference`, in memory) that the served search returns."""
    exact = {hit.chunk.chunk_id for hit in reference.search(question, TOP_K, exhaustive).hits}
    found = {hit.chunk.chunk_id for hit in retriever.search(question, TOP_K, served).hits}
    return len(exact & found) / len(exact) if exact else 1.0


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def format_scale_table(record: dict[str, Any]) -> str:
    """Return the Markdown table of one scale run."""
    keys = (
        "chunks",
        "build_s",
        "disk_mb",
        "load_s",
        "rss_mb",
        "search_p50_ms",
        "search_p99_ms",
        "recall_at_10",
        "add_s",
        "remove_s",
        "embed_s",
        "search_p99_during_add_ms",
        "searches_during_add",
        "swap_s",
    )
    return (
        "| "
        + " | ".join(keys)
        + " |\n|"
        + " --- |" * len(keys)
        + "\n| "
        + " | ".join(str(record.get(k)) for k in keys)
        + " |"
    )
