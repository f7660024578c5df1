"""English questions to Vietnamese keywords, through a domain glossary.

The small multilingual model matches English questions to Vietnamese passages only
loosely, and BM25 cannot match them at all. Translating the question's terms with a
glossary of party and administrative vocabulary (`glossary_en_vi.tsv`) gives BM25
Vietnamese words to match; numbers and codes ("2015-2020", "05-CT/TW") pass through.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from corpus.normalize import canonical_tones

GLOSSARY = Path(__file__).resolve().parent / "glossary_en_vi.tsv"
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d[\d./-]*(?:[-/][A-Za-z]+)*|[A-Z][A-Z0-9/-]+", re.IGNORECASE)
_MAX_PHRASE = 4
_FRAMING_SECTIONS = ("# === Time words", "# === Quantity words")


@dataclass(frozen=True)
class Glossary:
    """English phrases (lower case, up to four words) to their Vietnamese renderings."""

    entries: dict[tuple[str, ...], tuple[str, ...]]
    # Entries that say how a question asks (times, ordinals, quantities), not what about:
    # translated alone they match every passage with a date or a figure, so a question
    # whose subject the glossary does not know is left to the dense path.
    framing: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    @functools.cache
    def load(cls, path: Path = GLOSSARY) -> Glossary:
        """Return the glossary of `path` (read once per process; it ships with the code)."""
        entries: dict[tuple[str, ...], list[str]] = defaultdict(list)
        framing: set[tuple[str, ...]] = set()
        in_framing = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# ==="):
                in_framing = line.startswith(_FRAMING_SECTIONS)
            if not line.strip() or line.startswith("#"):
                continue
            english, vietnamese = line.split("\t")
            key = tuple(english.lower().split())
            entries[key].append(canonical_tones(vietnamese.strip()))
            if in_framing:
                framing.add(key)
        return cls({k: tuple(v) for k, v in entries.items()}, frozenset(framing))

    def translate(self, query: str) -> str | None:
        """Return Vietnamese keywords for an English `query`, or None if it knows no term of what the query is about."""
        tokens = _TOKEN.findall(query)
        words = [t.lower() for t in tokens]
        out: list[str] = []
        matched = 0
        i = 0
        while i < len(words):
            for size in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
                key, renderings = self._lookup(words[i : i + size])
                if renderings:
                    out.extend(renderings)
                    matched += key not in self.framing
                    i += size
                    break
            else:
                if any(c.isdigit() for c in tokens[i]) or tokens[i].isupper():
                    out.append(tokens[i])  # years, figures, document codes
                i += 1
        return " ".join(out) if matched else None

    def _lookup(self, words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the entry of `words` (or of their singular) and its renderings; () when there is none."""
        key = tuple(words)
        if key in self.entries:
            return key, self.entries[key]
        # Plural of the last word: "members", "committees", "branches".
        last = words[-1]
        for stem in (last[:-2] if last.endswith("es") else None, last[:-1] if last.endswith("s") else None):
            if stem and (*words[:-1], stem) in self.entries:
                return (*words[:-1], stem), self.entries[(*words[:-1], stem)]
        return key, ()
