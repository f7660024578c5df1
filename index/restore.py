"""Diacritic restoration for questions typed without them, from the corpus's own words.

"dang bo khoi thanh lap nam nao" embeds poorly: the model reads it as another
language. Each folded syllable has a few accented readings in the corpus ("dang" ->
"đảng", "đang", "đăng"); a Viterbi pass over syllable-bigram counts picks the
reading the corpus makes most likely in context. The counts are the passages that hold
a syllable or a bigram, read from the BM25 index, so they cost nothing to load and
follow the collection as segments come and go.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from corpus.normalize import fold_diacritics, has_diacritics, syllables
from index.bm25 import term_hashes
from index.lexical import LexicalIndex, LexicalScorer, canonical_numbers

# Question phrasing rarely occurs in documents; seeding it keeps "bao nhieu" from
# reading as "bảo nhiều" and "ai la" as "ái là".
QUESTION_PHRASES = (
    "bao nhiêu",
    "bao nhiêu người",
    "có bao nhiêu",
    "là ai",
    "ai là",
    "ai đã",
    "ở đâu",
    "đâu là",
    "khi nào",
    "năm nào",
    "ngày nào",
    "tháng nào",
    "là gì",
    "những gì",
    "gì",
    "như thế nào",
    "thế nào",
    "tại sao",
    "vì sao",
    "có phải",
    "có không",
    "hay không",
    "đầu tiên",
    "mấy",
    "nào",
    "có",
    "không",
)
_SEED_WEIGHT = 5
_MIN_KNOWN = 0.6  # share of a query's syllables the corpus must know, or it is not Vietnamese


@dataclass(frozen=True)
class DiacriticRestorer:
    """Accented readings of each folded syllable with their counts, and bigram counts from the index."""

    readings: dict[str, Counter[str]]
    index: LexicalScorer
    seeds: Counter[tuple[str, str]]  # bigrams of the question phrases

    @classmethod
    def of(cls, index: LexicalScorer, vocabulary: Iterable[str]) -> DiacriticRestorer:
        """Return the restorer of a collection: its BM25 index and the accented syllables it uses."""
        words = sorted(set(vocabulary))
        counts = index.df(term_hashes(words), folded=False)
        readings: dict[str, Counter[str]] = defaultdict(Counter)
        for word, count in zip(words, counts.tolist()):
            if count:
                readings[fold_diacritics(word)][word] += count
        seeds: Counter[tuple[str, str]] = Counter()
        for phrase in QUESTION_PHRASES:
            phrase_words = syllables(phrase)
            for word in phrase_words:
                readings[fold_diacritics(word)][word] += _SEED_WEIGHT
            seeds.update({pair: _SEED_WEIGHT for pair in zip(phrase_words, phrase_words[1:])})
        return cls(dict(readings), index, seeds)

    @classmethod
    def build(cls, texts: Sequence[str]) -> DiacriticRestorer:
        """Return the restorer of a collection of `texts` indexed on the spot (tests, small sets)."""
        vocabulary = {w for text in texts for w in syllables(canonical_numbers(text))}
        return cls.of(LexicalIndex.build(texts).scorer(), vocabulary)

    def restore(self, query: str) -> str | None:
        """Return `query` with diacritics restored, or None if it has them or is not Vietnamese."""
        if has_diacritics(query):
            return None
        words = syllables(query)
        known = sum(1 for w in words if w in self.readings)
        if not words or known / len(words) < _MIN_KNOWN:
            return None
        return " ".join(self._viterbi(words))

    def _bigrams(self, pairs: list[tuple[str, str]]) -> list[int]:
        """Return how many passages hold each bigram, plus its question-phrase seed count."""
        hashes = term_hashes([f"{a}_{b}" for a, b in pairs])
        counts = self.index.df(hashes, folded=False).tolist() if pairs else []
        return [int(c) + self.seeds[pair] for pair, c in zip(pairs, counts)]

    def _viterbi(self, words: list[str]) -> list[str]:
        # best[reading] = (log-probability, path) of the best path ending in `reading`
        best: dict[str, tuple[float, list[str]]] = {"": (0.0, [])}
        for word in words:
            options = self.readings.get(word) or Counter({word: 1})
            total = sum(options.values())
            pairs = [(prev, reading) for reading in options for prev in best]
            bigram = dict(zip(pairs, self._bigrams(pairs)))
            step: dict[str, tuple[float, list[str]]] = {}
            for reading, count in options.items():
                unigram = math.log(count / total)
                step[reading] = max(
                    (score + unigram + 3.0 * math.log1p(bigram[(prev, reading)]), path + [reading])
                    for prev, (score, path) in best.items()
                )
            best = step
        return max(best.values())[1]
