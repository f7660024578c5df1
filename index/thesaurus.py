"""Plain Vietnamese wordings of the documents' formal terms, for query expansion.

People ask "lớp trẻ" where the text says "thanh niên", "toàn thời gian" for "chuyên
trách", "BCH" for "Ban Chấp hành". `synonyms_vi.tsv` holds groups of phrases that mean
the same in this domain, the documents' own wording first. A query phrase that the
collection never uses brings that wording to the lexical side, and an answer is
expected to say it that way; phrases the collection does use are left alone, since
expanding them only adds noise to a match that already works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.normalize import syllables

THESAURUS = Path(__file__).resolve().parent / "synonyms_vi.tsv"

Phrase = tuple[str, ...]  # lower-cased syllables


@dataclass(frozen=True)
class Thesaurus:
    """Each known phrase to the collection's wording of it (None when the collection uses the phrase itself)."""

    rewrites: dict[Phrase, str | None]
    longest: int  # syllables in the longest phrase

    @classmethod
    def for_collection(cls, texts: Iterable[str], path: Path = THESAURUS) -> Thesaurus:
        """Return the rewrites that help on the collection of `texts`."""
        joined = " " + " ".join(" ".join(syllables(text)) for text in texts) + " "
        return cls.build(lambda phrase: f" {' '.join(phrase)} " in joined, path)

    @classmethod
    def build(cls, used: Callable[[Phrase], bool], path: Path = THESAURUS) -> Thesaurus:
        """Return the rewrites that help on a collection that says the phrases `used` says it does."""
        rewrites: dict[Phrase, str | None] = {}
        for group in _groups(path):
            wording = " ".join(group[0]) if used(group[0]) else None
            for phrase in group:
                absent = not used(phrase)
                rewrites.setdefault(phrase, wording if absent and phrase != group[0] else None)
        return cls(rewrites, max((len(p) for p in rewrites), default=0))

    def rewrite(self, query: str) -> Rewrite | None:
        """Return the collection's wording of the phrases of `query` it never uses, or None."""
        words = syllables(query)
        wordings: list[str] = []
        replaced: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self.longest, len(words) - i), 0, -1):
                phrase = tuple(words[i : i + size])
                if phrase in self.rewrites:
                    wording = self.rewrites[phrase]
                    if wording:
                        wordings.append(wording)
                    replaced.append(wording or " ".join(phrase))
                    i += size
                    break
            else:
                replaced.append(words[i])
                i += 1
        return Rewrite(" ".join(wordings), " ".join(replaced)) if wordings else None


@dataclass(frozen=True)
class Rewrite:
    """A query's phrases in the collection's wording."""

    wording: str  # the collection's wording of the phrases it never uses, to match beside the query
    text: str  # the query's syllables with those phrases replaced: what an answer must contain


@functools.cache
def _groups(path: Path) -> tuple[tuple[Phrase, ...], ...]:
    """Return the groups of `path` (read once per process; the file ships with the code)."""
    groups = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            groups.append(tuple(tuple(syllables(member)) for member in line.split("\t") if member.strip()))
    return tuple(groups)
