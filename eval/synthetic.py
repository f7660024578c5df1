"""A synthetic collection of any size, made of a real index's own sentences, for `viqa bench scale`.

Each new passage strings together 3-6 sentences of the real collection. Repeating the
same few hundred sentences would give every word a df near the collection size, a
collection no archive looks like; so in each copy a share of the words is swapped for
syllables drawn from a Zipf law over a larger vocabulary (the real syllables first,
then new ones made by changing their onset), and numbers for others of the same length.
A passage's vector is its sentences' source passages' vectors, averaged, plus noise.

Tokens are kept as integer ids, so the BM25 fields are built from arrays
(`text_index`), at millions of passages, without analysing text; a test checks that
this gives the same index as analysing the generated text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from corpus.chunk import Chunk, chunk_id, split_sentences
from corpus.documents import DocumentMeta
from corpus.normalize import fold_diacritics, syllables
from index.bm25 import Field, term_hashes
from index.lexical import LexicalIndex, canonical_numbers
from index.period import PeriodTable
from index.ranking import concat_ranges
from index.segment import StoredDocument
from index.store import IndexVersion
from index.textindex import TermCounts, TextIndex

_ONSETS = "b c ch d đ g gh gi h k kh l m n ng ngh nh p ph qu r s t th tr v x".split()
_KEEP = frozenset("tháng thang năm nam".split())  # dates depend on them: never swapped in or out
_SWAP = 0.15  # share of words swapped in each copied sentence
_NUMBER_SWAP = 0.5
_EXTRA_VOCABULARY = 30_000
_BLOCK = 50_000
_NOISE = 0.6  # norm of the noise added to a passage's vector, before normalising


@dataclass(frozen=True)
class Pool:
    """The real sentences, as token ids, and the vocabulary the copies draw from."""

    vocabulary: list[str]  # real syllables by falling frequency, then made-up ones, then numbers
    tokens: np.ndarray  # int32: the real sentences' tokens, joined
    bounds: np.ndarray  # sentence i is tokens[bounds[i] : bounds[i + 1]]
    source_rows: np.ndarray  # the real passage each sentence comes from
    vectors: np.ndarray  # the real passages' vectors
    words: np.ndarray  # ids a word may be swapped for, and their Zipf probabilities
    word_p: np.ndarray
    swappable: np.ndarray  # bool per id: a word that may be swapped
    number_length: np.ndarray  # digits per id (0: not a number)
    numbers_from: int  # id of "0"; id of number n is numbers_from + n, for n < 10000


def make_pool(version: IndexVersion) -> Pool:
    """Return the sentences of `version` and the vocabulary to vary them with."""
    sentences: dict[str, int] = {}
    for row in range(version.size):
        text = version.chunks[row].text
        for start, end in split_sentences(text):
            words = syllables(canonical_numbers(text[start:end]))
            if len(words) >= 3 and len(words[0]) > 1 and all(_safe(w) for w in words):
                sentences.setdefault(" ".join(words), row)
    counts: dict[str, int] = {}
    for sentence in sentences:
        for word in sentence.split():
            counts[word] = counts.get(word, 0) + 1
    real = sorted((w for w in counts if not w.isdigit()), key=lambda w: -counts[w])
    vocabulary = real + _made_up(real, _EXTRA_VOCABULARY)
    numbers_from = len(vocabulary)
    vocabulary += [str(n) for n in range(10_000)]
    ids = {w: i for i, w in enumerate(vocabulary)}
    for word in counts:  # numbers of five digits or more, or with leading zeros, stay as they are
        ids.setdefault(word, len(vocabulary))
        if ids[word] == len(vocabulary):
            vocabulary.append(word)
    tokens = [np.array([ids[w] for w in s.split()], dtype=np.int32) for s in sentences]
    lengths = np.array([len(t) for t in tokens], dtype=np.int64)
    number_length = np.array([len(w) if w.isdigit() and str(int(w)) == w else 0 for w in vocabulary], np.int64)
    swappable = np.array([not w.isdigit() and w not in _KEEP for w in vocabulary])
    targets = np.flatnonzero(swappable[:numbers_from])
    weights = 1.0 / np.arange(1, len(targets) + 1)
    return Pool(
        vocabulary,
        np.concatenate(tokens),
        np.concatenate([[0], np.cumsum(lengths)]),
        np.array(list(sentences.values()), dtype=np.int64),
        version.vectors(np.arange(version.size)),
        targets,
        weights / weights.sum(),
        swappable,
        number_length,
        numbers_from,
    )


@dataclass(frozen=True)
class Synthetic:
    """Passages as token ids: sentence i is tokens[sentence_bounds[i]:...], passage r has sentences
    first_sentence[r] .. first_sentence[r + 1]."""

    tokens: np.ndarray
    sentence_bounds: np.ndarray
    first_sentence: np.ndarray
    vectors: np.ndarray


def generate(pool: Pool, passages: int, rng: np.random.Generator) -> Synthetic:
    """Return `passages` new passages made of varied copies of the pool's sentences."""
    per_passage = rng.integers(3, 7, size=passages)  # 3-6 sentences: about the 200 tokens of a real chunk
    first_sentence = np.concatenate([[0], np.cumsum(per_passage)]).astype(np.int64)
    source = rng.integers(0, len(pool.source_rows), size=int(first_sentence[-1]))
    positions, _ = concat_ranges(pool.bounds[source], pool.bounds[source + 1])
    tokens = pool.tokens[positions].copy()
    lengths = pool.bounds[source + 1] - pool.bounds[source]
    swap = pool.swappable[tokens] & (rng.random(len(tokens), dtype=np.float32) < _SWAP)
    tokens[swap] = rng.choice(pool.words, size=int(swap.sum()), p=pool.word_p)
    digits = pool.number_length[tokens]
    renumber = (digits > 0) & (digits <= 4) & (rng.random(len(tokens), dtype=np.float32) < _NUMBER_SWAP)
    low = np.where(digits[renumber] == 1, 0, 10 ** (digits[renumber] - 1))
    tokens[renumber] = pool.numbers_from + rng.integers(low, 10 ** digits[renumber])
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = np.zeros((passages, pool.vectors.shape[1]), dtype=np.float32)
    rows = pool.source_rows[source]
    for start in range(0, passages, _BLOCK):  # in blocks: the gathered vectors of a million passages fill memory
        block = vectors[start : start + _BLOCK]
        first, count = first_sentence[:-1][start : start + _BLOCK], per_passage[start : start + _BLOCK]
        for slot in range(int(count.max(initial=0))):
            has = count > slot
            block[has] += pool.vectors[rows[first[has] + slot]]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(_NOISE / np.sqrt(block.shape[1]))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return Synthetic(tokens.astype(np.int32), bounds, first_sentence, vectors)


def documents(
    pool: Pool, synthetic: Synthetic, per_document: int, prefix: str
) -> tuple[list[Chunk], list[StoredDocument], np.ndarray]:
    """Return the passages as chunks of documents of `per_document` passages, and each chunk's sentence spans."""
    vocabulary = pool.vocabulary
    chunks: list[Chunk] = []
    stored: list[StoredDocument] = []
    spans: list[tuple[int, int]] = []
    passages = len(synthetic.first_sentence) - 1
    for first in range(0, passages, per_document):
        doc_id = f"{prefix}-{first // per_document:06d}"
        texts: list[str] = []
        offset = 0
        meta = DocumentMeta(doc_id, f"Tài liệu {doc_id}", dt.date(2000 + first // per_document % 25, 1, 1))
        for row in range(first, min(first + per_document, passages)):
            sentences = []
            at = 0
            row_tokens, cuts = _row_tokens(synthetic, row)
            for start, end in zip(cuts, cuts[1:]):
                words = [vocabulary[t] for t in row_tokens[start:end]]
                sentence = words[0][:1].upper() + " ".join(words)[1:] + "."
                spans.append((at, at + len(sentence)))
                at += len(sentence) + 1
                sentences.append(sentence)
            text = " ".join(sentences)
            number = row - first + 1
            chunks.append(
                Chunk(
                    chunk_id(doc_id, None, offset, text),
                    doc_id,
                    None,
                    (number, number),
                    offset,
                    offset + len(text),
                    text,
                )
            )
            texts.append(text)
            offset += len(text) + 1
        stored.append(StoredDocument(meta, "\n".join(texts), doc_id, len(texts)))
    return chunks, stored, np.array(spans, dtype=np.int32).reshape(-1, 2)


def _row_tokens(synthetic: Synthetic, row: int) -> tuple[list[int], list[int]]:
    """Return the tokens of passage `row`, and where each of its sentences starts in them (and the end)."""
    first, last = int(synthetic.first_sentence[row]), int(synthetic.first_sentence[row + 1])
    bounds = synthetic.sentence_bounds[first : last + 1]
    return synthetic.tokens[bounds[0] : bounds[-1]].tolist(), (bounds - bounds[0]).tolist()


def text_index(
    pool: Pool, synthetic: Synthetic, chunks: list[Chunk], spans: np.ndarray, texts: dict[str, str]
) -> TextIndex:
    """Return the text index of the synthetic passages, built from their token ids."""
    used = [pool.vocabulary[i] for i in np.unique(synthetic.tokens).tolist()]
    passages = _lexical(pool.vocabulary, synthetic.tokens, synthetic.sentence_bounds[synthetic.first_sentence])
    folded = sorted({fold_diacritics(w) for w in used})  # a passage's coverage terms are its folded syllables
    held = passages.folded.df(passages.folded.positions(term_hashes(folded)))
    return TextIndex(
        passages,
        _lexical(pool.vocabulary, synthetic.tokens, synthetic.sentence_bounds),
        spans,
        synthetic.first_sentence,
        PeriodTable.build(chunks, texts),
        sorted(used),
        TermCounts.of(dict(zip(folded, held.tolist()))),
    )


def _lexical(vocabulary: list[str], tokens: np.ndarray, bounds: np.ndarray) -> LexicalIndex:
    """Return both BM25 fields of rows of tokens (row r is tokens[bounds[r] : bounds[r + 1]])."""
    folded_words = [fold_diacritics(w) for w in vocabulary]
    folded_vocabulary = sorted(set(folded_words))
    index = {w: i for i, w in enumerate(folded_vocabulary)}
    to_folded = np.array([index[w] for w in folded_words], dtype=np.int32)
    return LexicalIndex(_field(vocabulary, tokens, bounds), _field(folded_vocabulary, to_folded[tokens], bounds))


def _field(vocabulary: list[str], tokens: np.ndarray, bounds: np.ndarray) -> Field:
    """Return the field of syllables and syllable bigrams of each row, as `Field.build` would."""
    counts = np.diff(bounds)
    if (counts <= 0).any():
        raise ValueError("a synthetic row without words")
    rows = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    size = len(vocabulary)
    used = np.flatnonzero(np.bincount(tokens, minlength=size))
    to_term = np.full(size, -1, dtype=np.int32)
    to_term[used] = np.arange(len(used), dtype=np.int32)
    unigrams = to_term[tokens]
    same = rows[:-1] == rows[1:]
    keys = tokens[:-1][same].astype(np.int64) * size + tokens[1:][same]
    pairs, bigrams = np.unique(keys, return_inverse=True)
    hashes = np.concatenate([term_hashes([vocabulary[i] for i in used.tolist()]), _bigram_hashes(vocabulary, pairs)])
    ids = np.concatenate([unigrams, (len(used) + bigrams).astype(np.int32)])
    occurrences = np.concatenate([rows, rows[:-1][same]])
    return Field.from_occurrences(ids, occurrences, hashes, 2 * counts - 1)


def _bigram_hashes(vocabulary: list[str], pairs: np.ndarray) -> np.ndarray:
    """Return the term hash of each bigram `first * len(vocabulary) + second`, a block at a time (memory)."""
    size, out = len(vocabulary), np.empty(len(pairs), dtype=np.uint64)
    for start in range(0, len(pairs), _BLOCK):
        block = pairs[start : start + _BLOCK].tolist()
        out[start : start + len(block)] = term_hashes(
            [f"{vocabulary[k // size]}_{vocabulary[k % size]}" for k in block]
        )
    return out


def _safe(word: str) -> bool:
    """Return True for a token whose folded form is one token too (so both fields count it once)."""
    return syllables(fold_diacritics(word)) == [fold_diacritics(word)]


def _made_up(real: list[str], count: int) -> list[str]:
    """Return up to `count` new syllables: real ones with another onset."""
    known = set(real)
    made: list[str] = []
    for onset in _ONSETS:
        for word in real:
            rest = word[len(_onset(word)) :]
            candidate = onset + rest
            if rest and candidate not in known and _safe(candidate):
                known.add(candidate)
                made.append(candidate)
                if len(made) == count:
                    return made
    return made


def _onset(word: str) -> str:
    for onset in sorted(_ONSETS, key=len, reverse=True):
        if word.startswith(onset):
            return onset
    return ""
