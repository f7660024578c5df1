"""A question in the forms search needs: as embedded, as matched by BM25, as an answer must say it.

A query typed without diacritics gets them back from the collection's own words; an
English one gets Vietnamese keywords from the glossary; a wording the collection never
uses is matched in its own wording too (the thesaurus).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from corpus.normalize import has_diacritics
from index.bm25 import term_hashes
from index.lexical import LexicalScorer
from index.restore import DiacriticRestorer
from index.thesaurus import Thesaurus
from index.translate import Glossary


@dataclass(frozen=True)
class QueryForms:
    """The query as embedded, as matched by BM25, and as an answer must contain it."""

    dense: str
    lexical: str
    evidence: str


@dataclass(frozen=True)
class QueryRewriter:
    """The collection's vocabulary for restoring diacritics and its wording of known phrases."""

    restorer: DiacriticRestorer
    glossary: Glossary
    thesaurus: Thesaurus

    @classmethod
    def for_collection(cls, texts: Sequence[str]) -> QueryRewriter:
        """Return the rewriter of a collection whose clean texts are `texts` (tests, small sets)."""
        return cls(DiacriticRestorer.build(texts), Glossary.load(), Thesaurus.for_collection(texts))

    @classmethod
    def for_index(cls, index: LexicalScorer, vocabulary: Iterable[str], deleted: np.ndarray) -> QueryRewriter:
        """Return the rewriter of an indexed collection: counts and phrases read from its BM25 index.

        Args:
            vocabulary: the accented syllables the collection uses.
            deleted: rows that no longer count as using a phrase.
        """

        def used(phrase: tuple[str, ...]) -> bool:
            terms = list(phrase) if len(phrase) == 1 else [f"{a}_{b}" for a, b in zip(phrase, phrase[1:])]
            return index.holds(term_hashes(terms), folded=False, excluded=deleted)

        return cls(DiacriticRestorer.of(index, vocabulary), Glossary.load(), Thesaurus.build(used))

    def rewrite(
        self, query: str, *, restore_diacritics: bool, translate_english: bool, expand_synonyms: bool
    ) -> QueryForms:
        """Return the texts to embed, to match, and to look for in the evidence.

        Diacritics are restored when the query has none. An English query gets Vietnamese
        keywords from the glossary, embedded and matched beside it (the small model ties
        English to Vietnamese loosely); only the keywords count as evidence. Phrases the
        collection never uses are matched in the collection's own wording too.
        """
        restored = self.restorer.restore(query) if restore_diacritics else None
        translated = None
        if not restored and not has_diacritics(query) and translate_english:
            translated = self.glossary.translate(query)
        if restored:
            dense_text = lexical_text = evidence_text = restored
        elif translated:
            dense_text = lexical_text = f"{query} {translated}"
            evidence_text = translated
        else:
            dense_text = lexical_text = evidence_text = query
        if expand_synonyms:
            lexical_rewrite = self.thesaurus.rewrite(lexical_text)
            evidence_rewrite = lexical_rewrite  # the same text, but for an English query's keywords
            if evidence_text != lexical_text:
                evidence_rewrite = self.thesaurus.rewrite(evidence_text)
            if lexical_rewrite:
                lexical_text = f"{lexical_text} {lexical_rewrite.wording}"
            if evidence_rewrite:
                evidence_text = evidence_rewrite.text  # an answer says "thanh niên", not the asker's "lớp trẻ"
        return QueryForms(dense_text, lexical_text, evidence_text)
