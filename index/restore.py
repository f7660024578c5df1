"""Diacritic restoration for questions typed without them, from the corpus's own words.

"dang bo khoi thanh lap nam nao" embeds poorly: the model reads it as another
language. Each folded syllable has a few accented readings in the corpus ("dang" ->
"đảng", "đang", "đăng"); a Viterbi pass over syllable-bigram counts picks the
reading the corpus makes most likely in context.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from corpus.normalize import fold_diacritics, has_diacritics, syllables

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


@dataclass
class DiacriticRestorer:
    """Counts of accented syllables and bigrams, keyed by their folded form."""

    readings: dict[str, Counter[str]]
    bigrams: Counter[tuple[str, str]]

    @classmethod
    def build(cls, texts: Iterable[str]) -> DiacriticRestorer:
        readings: dict[str, Counter[str]] = defaultdict(Counter)
        bigrams: Counter[tuple[str, str]] = Counter()
        seeds = [phrase for phrase in QUESTION_PHRASES for _ in range(_SEED_WEIGHT)]
        for text in itertools.chain(texts, seeds):
            words = syllables(text)
            for word in words:
                readings[fold_diacritics(word)][word] += 1
            bigrams.update(zip(words, words[1:]))
        return cls(dict(readings), bigrams)

    def restore(self, query: str) -> str | None:
        """Return `query` with diacritics restored, or None if it has them or is not Vietnamese."""
        if has_diacritics(query):
            return None
        words = syllables(query)
        known = sum(1 for w in words if w in self.readings)
        if not words or known / len(words) < _MIN_KNOWN:
            return None
        return " ".join(self._viterbi(words))

    def _viterbi(self, words: list[str]) -> list[str]:
        # best[reading] = (log-probability, path) of the best path ending in `reading`
        best: dict[str, tuple[float, list[str]]] = {"": (0.0, [])}
        for word in words:
            options = self.readings.get(word) or Counter({word: 1})
            total = sum(options.values())
            step: dict[str, tuple[float, list[str]]] = {}
            for reading, count in options.items():
                unigram = math.log(count / total)
                step[reading] = max(
                    (score + unigram + 3.0 * math.log1p(self.bigrams[(prev, reading)]), path + [reading])
                    for prev, (score, path) in best.items()
                )
            best = step
        return max(best.values())[1]
