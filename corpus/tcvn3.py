"""Repair of text typed in the legacy TCVN3 (ABC) font encoding.

Text typed with a TCVN3 font stores Vietnamese letters in the Latin-1 code points
(0xB8 for "á", 0xAE for "đ"), so when it is read as Unicode it shows as "tÝch cùc"
for "tích cực". Web pipelines then often apply NFKC, which turns a few of those code
points into ASCII and loses them ("ª" -> "a", "¸" -> " ̧"). `repair_tcvn3` finds
runs of such words and decodes them, using the document's own vocabulary to choose
between the readings NFKC made ambiguous.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

_TCVN3_CHARS = "µ¸¶·¹¨»¾¼½Æ©ÇÊÈÉË®ÌÐÎÏÑªÒÕÓÔÖ×ÝØÜÞßãáâä«åèæçé¬êíëìîïóñòô\xadõøö÷ùúýûüþ¡¢§£¤¥¦"
_UNICODE_CHARS = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ"
_DECODE = str.maketrans(_TCVN3_CHARS, _UNICODE_CHARS)

# Latin-1 letters that are also ordinary Vietnamese letters in Unicode text, so their
# presence alone proves nothing ("cô", "Bé" are real words).
_VIETNAMESE_LATIN1 = set("ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúý")
_MARKERS = set(_TCVN3_CHARS) - _VIETNAMESE_LATIN1

# What NFKC leaves of TCVN3 code points, mapped back to the code points.
_NFKC_UNDO = (("\u0020\u0327", "¸"), ("\u0020\u0308", "¨"), ("1\u20444", "¼"), ("1\u20442", "½"), ("3\u20444", "¾"))
# ASCII letters that may stand for a TCVN3 code point NFKC flattened ("ª" -> "a").
_NFKC_AMBIGUOUS = {"a": "ª", "1": "¹"}

_TOKEN = re.compile(r"[^\s;,.:!?()\"“”]+")
_MAX_GAP = 4  # clean words allowed between two garbled ones in the same run
_MIN_MARKED = 2  # a lone odd word is not evidence enough of a TCVN3 run


@dataclass(frozen=True)
class Replacement:
    """One repaired word: `text[start:end]` should read `new`."""

    start: int
    end: int
    new: str


def _is_marked(word: str) -> bool:
    if any(c in _MARKERS for c in word):
        return True
    # "tÝch", "quyÕt": an upper-case Latin-1 letter right after a lower-case one.
    return any(a.islower() and b in _TCVN3_CHARS and b.isupper() for a, b in itertools.pairwise(word))


def _candidates(word: str) -> list[str]:
    positions = [i for i, c in enumerate(word) if c in _NFKC_AMBIGUOUS]
    variants = [word]
    for n in range(1, min(len(positions), 3) + 1):
        for chosen in itertools.combinations(positions, n):
            chars = list(word)
            for i in chosen:
                chars[i] = _NFKC_AMBIGUOUS[chars[i]]
            variants.append("".join(chars))
    return [v.translate(_DECODE) for v in variants]


def _decode_word(word: str, vocabulary: Collection[str]) -> str:
    if any(ord(c) > 0xFF for c in word):
        return word  # already proper Unicode Vietnamese
    candidates = _candidates(word)
    for candidate in candidates:
        if candidate.casefold() in vocabulary:
            return candidate
    return candidates[0]


def _undo_nfkc(text: str) -> str:
    for flattened, original in _NFKC_UNDO:
        text = text.replace(flattened, original)
    return text


def find_tcvn3_runs(text: str, vocabulary: Collection[str], normalize: Callable[[str], str] = str) -> list[Replacement]:
    """Return the word replacements that decode TCVN3-garbled runs in `text`.

    Args:
        vocabulary: casefolded words known to be correct (e.g. the rest of the
            document), used to choose between readings NFKC made ambiguous.
        normalize: applied to each decoded word (e.g. canonical tone placement).
    """
    undone = _undo_nfkc(text)
    # Undoing NFKC shortens the text; map each token back to the original offsets.
    back = _offset_map(text)
    tokens = list(_TOKEN.finditer(undone))
    marked = [i for i, t in enumerate(tokens) if _is_marked(t.group())]
    replacements: list[Replacement] = []
    for run in _group_runs(marked):
        if len(run) < _MIN_MARKED:
            continue
        for token in tokens[run[0] : run[-1] + 1]:
            new = normalize(_decode_word(token.group(), vocabulary))
            start, end = back[token.start()], back[token.end()]
            if new != text[start:end]:
                replacements.append(Replacement(start, end, new))
    return replacements


def _group_runs(marked: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in marked:
        if runs and i - runs[-1][-1] <= _MAX_GAP + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _offset_map(text: str) -> list[int]:
    """Map offsets in `_undo_nfkc(text)` to offsets in `text`."""
    back: list[int] = []
    i = 0
    while i < len(text):
        for flattened, _ in _NFKC_UNDO:
            if text.startswith(flattened, i):
                back.append(i)
                i += len(flattened)
                break
        else:
            back.append(i)
            i += 1
    back.append(len(text))
    return back
