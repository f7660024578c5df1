"""Vietnamese text keys: canonical tone placement, diacritic folding, syllables.

Every component that compares text (cleaning, BM25, eval scoring) goes through
these functions, so "hoà" and "hòa" or "Thuỷ" and "Thủy" are one word everywhere.
"""

from __future__ import annotations

import re
import unicodedata

_TONES = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below

# Syllable-final "oa", "oe", "uy" (no coda) carry the tone on the first vowel in the
# modern placement ("hóa", "thủy"); the older one puts it on the second ("hoá", "thuỷ").
# "qu" + "y" is an onset plus a vowel ("quý"), so the tone there stays on the "y".
# In NFD a dot below sorts before a circumflex or breve ("ậ" = a + dot + circumflex), and
# Python's \w does not count combining marks, so the look-ahead names them explicitly:
# "luận" and "Huệ" carry two marks on their last vowel and must not match.
_OLD_STYLE = re.compile(r"(?<![qQ])([oOuU])([aAeEyY])([" + _TONES + r"])(?![^\W\d_]|[\u0300-\u036f])")

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+")


def canonical_tones(text: str) -> str:
    """Return `text` in NFC with tone marks of "oa/oe/uy" moved to the first vowel."""
    decomposed = unicodedata.normalize("NFD", text)
    # Only the tone may move; other marks (circumflex, breve, horn) stay on their vowel.
    moved = _OLD_STYLE.sub(lambda m: m.group(1) + m.group(3) + m.group(2), decomposed)
    return unicodedata.normalize("NFC", moved)


def fold_diacritics(text: str) -> str:
    """Return `text` without Vietnamese diacritics ("Đảng bộ" -> "Dang bo")."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D")


def match_key(text: str) -> str:
    """Return the comparison key: canonical tones, casefolded, whitespace collapsed."""
    return _SPACE.sub(" ", canonical_tones(text).casefold()).strip()


def syllables(text: str) -> list[str]:
    """Return the lower-cased syllables (and numbers) of `text` in canonical tone form."""
    return _WORD.findall(canonical_tones(text).casefold())


def has_diacritics(text: str) -> bool:
    """Return True when `text` carries any Vietnamese diacritic or "đ"."""
    return fold_diacritics(text) != text
