"""Decoding of documents written in the legacy Vietnamese encodings VNI and VISCII.

VISCII (RFC 1456) is an 8-bit charset with one byte per precomposed letter. VNI
(VNI-Windows fonts) writes a Latin base letter followed by a mark letter from cp1252
("Ñaûng boä" is "Đảng bộ"); besides whole VNI files it survives as mojibake inside
Unicode text, where someone read VNI bytes as cp1252 and saved the result as UTF-8.
Neither leaves a signature, so each line is read every way that is possible and the
reading made of valid Vietnamese syllables wins. TCVN3 is left to `corpus.tcvn3`.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata

from corpus.errors import CorpusError, DocumentTooLarge
from corpus.tcvn3 import find_tcvn3_runs

# VISCII bytes 0x80-0xFF, as RFC 1456 lists them (equal to glibc's iconv VISCII table).
_VISCII_HIGH = (
    "ẠẮẰẶẤẦẨẬẼẸẾỀỂỄỆỐỒỔỖỘỢỚỜỞỊỎỌỈỦŨỤỲÕắằặấầẩậẽẹếềểễệốồổỗỠƠộờởịỰỨỪỬơớƯ"
    "ÀÁÂÃẢĂẳẵÈÉÊẺÌÍĨỳĐứÒÓÔạỷừửÙÚỹỵÝỡưàáâãảăữẫèéêẻìíĩỉđựòóôõỏọụùúũủýợỮ"
)
# Six capitals did not fit above 0x7F, so VISCII took the C0 controls no text file uses.
_VISCII_C0 = {0x02: "Ẳ", 0x05: "Ẵ", 0x06: "Ẫ", 0x14: "Ỷ", 0x19: "Ỹ", 0x1E: "Ỵ"}
_VISCII = "".join(_VISCII_C0.get(i, chr(i)) for i in range(128)) + _VISCII_HIGH
# ASCII without those six bytes reads the same in UTF-8, VNI and VISCII.
_VISCII_CONTROLS = re.compile(b"[\x02\x05\x06\x14\x19\x1e]")
_PLAIN_ASCII = re.compile(b"[^\x02\x05\x06\x14\x19\x1e\x80-\xff]*")

# VNI mark letters, lower- and upper-case (a capital vowel takes the capital mark).
_GRAVE, _ACUTE, _TILDE, _HOOK, _DOT = "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"
_TONE_LIST = (_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT)
_TONE_MARKS = dict(zip("ùøûõï", _TONE_LIST)) | dict(zip("ÙØÛÕÏ", _TONE_LIST))
_CIRCUMFLEX = dict(zip("áàåãäâ", (*_TONE_LIST, ""))) | dict(zip("ÁÀÅÃÄÂ", (*_TONE_LIST, "")))
_BREVE = dict(zip("éèúüëê", (*_TONE_LIST, ""))) | dict(zip("ÉÈÚÜËÊ", (*_TONE_LIST, "")))
# Letters VNI writes as one cp1252 character: đ, ơ, ư and the i's whose marks would not fit.
_SINGLE = dict(zip("ñÑôÔöÖòÒæÆóÓ", "đĐơƠưƯịỊỉỈĩĨ"))
_VNI = re.compile(r"[aeouyAEOUYôöÔÖ][ùøûõïÙØÛÕÏ]|[aeoAEO][áàåãäâÁÀÅÃÄÂ]|[aA][éèúüëêÉÈÚÜËÊ]|[ñÑôÔöÖòÒæÆóÓ]")


def _vni_letter(match: re.Match[str]) -> str:
    seq = match.group()
    start = match.start()
    if seq[0].isupper() and start and match.string[start - 1].islower():
        return seq  # VNI has no capital after a small letter: "NghÖ" is TCVN3 for "Nghệ"
    if len(seq) == 1:
        return _SINGLE[seq]
    base, mark = seq[0], seq[1]
    if base.isupper() != mark.isupper():
        return seq  # "Où" is French: VNI never pairs a capital with a small mark
    combining = _TONE_MARKS.get(mark)
    if combining is None:
        table = _BREVE if mark in _BREVE else _CIRCUMFLEX
        combining = ("\u0306" if table is _BREVE else "\u0302") + table[mark]
    return unicodedata.normalize("NFC", _SINGLE.get(base, base) + combining)


def _vni_to_unicode(text: str) -> str:
    return _VNI.sub(_vni_letter, text)


_ONSET = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
_CLOSED = r"(?P<nucleus>uyê|iê|yê|uô|ươ|oa|oă|oe|uâ|uê|uy|oo|[aăâeêioôơuư])(?P<coda>ng|nh|ch|[cmnpt])"
_OPEN = (
    r"(?P<open>iêu|yêu|uôi|ươi|ươu|oai|oao|oay|oeo|uây|uya|uyu|ai|ao|au|ay|âu|ây|eo|êu|ia|iu|oi|ôi|ơi|ua|ui"
    r"|ưa|ưi|ưu|oa|oe|uê|uy|uơ|[aeêioôơuưy])"
)
_SYLLABLE = re.compile(f"(?P<onset>{_ONSET})(?:{_CLOSED}|{_OPEN})")
_TONE_ON_LAST = ("oa", "oe", "uy", "uê", "uơ")  # open pairs whose tone may sit on the second vowel ("hoà")
_WORD = re.compile(r"[^\W\d_]+")
_ACRONYM = re.compile(r"[A-Z]{2,}")  # "UBND", "TP", "IV": neither evidence for nor against a reading
_MIN_LEGACY_SHARE = 0.6  # of a legacy reading's non-ASCII words, for it to count as Vietnamese
_MIN_VALID_SHARE = 0.5  # of a line's words, for a line with two or more repaired words to be VNI
_MIN_VNI_SHARE = 0.75  # of a line's words, for a line with one repaired word to be VNI
# Letters cp1252 has not, so VNI mojibake never holds them: a line with any is partly Unicode already.
_UNICODE_ONLY = re.compile("[ơƠưƯđĐăĂĩĨũŨ\u1ea0-\u1ef9]")
_MIN_CONVERTED_SHARE = 0.75  # of the words VNI conversion changed, that must come out as syllables


@functools.lru_cache(maxsize=65536)
def _is_syllable(word: str) -> bool:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    tones = [c for c in decomposed if c in _TONE_LIST]
    if len(tones) > 1:
        return False
    toneless = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_LIST))
    match = _SYLLABLE.fullmatch(toneless)
    if match is None:
        return False
    nucleus, coda = match.group("nucleus"), match.group("coda")
    if match.group("onset") == "gi" and nucleus == "ê":
        nucleus = "iê"  # "giêng" spells the i of "iê" once
    # Front vowels take the palatal codas ("anh", "ích"), the others the velar ones ("ang", "úc").
    if coda in ("nh", "ch") and nucleus not in ("a", "ê", "i", "uy", "oa", "uê"):
        return False
    if coda in ("ng", "c") and nucleus in ("i", "ê", "ơ", "uy", "uê", "uyê"):
        return False
    if not tones:
        return coda not in ("c", "ch", "p", "t")
    # A syllable ending in a stop (-c, -ch, -p, -t) only takes the rising or the heavy tone:
    # this alone rejects most Latin words that happen to be spelled like a syllable.
    if coda in ("c", "ch", "p", "t") and tones[0] not in (_ACUTE, _DOT):
        return False
    # The tone sits on the main vowel; misplaced ones ("quaù", "tieá") are what VNI looks like.
    letter = sum(not unicodedata.combining(c) for c in decomposed[: decomposed.index(tones[0])]) - 1
    if nucleus:
        return letter == match.end("nucleus") - 1
    vowels, at = match.group("open"), letter - match.start("open")
    return at == (1 if len(vowels) == 3 else 0) or (at == 1 and vowels in _TONE_ON_LAST)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(unicodedata.normalize("NFC", text)) if not _ACRONYM.fullmatch(w)]


def _valid_count(text: str) -> tuple[int, int]:
    """Return (valid Vietnamese syllables, words) of `text`."""
    words = _words(text)
    return sum(_is_syllable(w) for w in words), len(words)


# TCVN3 keeps its commonest letters (à á ả ã ạ ă â đ ê ô ơ ư) in 0xA0-0xBF, where VNI has none, and a
# few more in letters VNI does not use; NFKC turns some into combining marks, "μ" or fractions. A line
# without any of these is not TCVN3, and skipping the (slow) TCVN3 reading keeps VNI documents fast.
_MAYBE_TCVN3 = re.compile(r"[\u00a0-\u00bfÇÎÐ×ÝÞßçî÷ýþ\u0300-\u036f\u03bc\u2044]")
# Never in VNI, typical of TCVN3: a capital inside a small-letter word ("tËp", "quyÕt": VNI writes
# capitals only in capital words), or a symbol of 0xA0-0xBF that starts a syllable ("®Öm", "c¸c").
_NOT_VNI = re.compile(r"[a-zß-ÿ][À-Þ]|[\u00a8-\u00ae\u00b5-\u00b9\u00bb-\u00beÇÎÐ×Þç÷þ][^\W\d_]")


def _tcvn3_reading(line: str) -> str:
    text = line
    for r in reversed(find_tcvn3_runs(line, ())):
        text = text[: r.start] + r.new + text[r.end :]
    return text


def repair_vni(line: str) -> str | None:
    """Return the Unicode reading of a line of VNI mojibake, or None when the line is not VNI."""
    line = unicodedata.normalize("NFC", line)
    pairs = [(word, _vni_to_unicode(word)) for word in _words(line)]
    changed = [(old, new) for old, new in pairs if old != new]
    if not changed:
        return None
    # Unicode Vietnamese is all valid syllables already, so no word of it can be fixed. In VNI some
    # changed words read as syllables before conversion too ("cô" for "cơ"), but not most of them.
    fixed = sum(not _is_syllable(old) and _is_syllable(new) for old, new in changed)
    after = sum(_is_syllable(new) for _, new in pairs)
    if (
        fixed < max(1.0, len(changed) / 3)
        or sum(_is_syllable(new) for _, new in changed) < _MIN_CONVERTED_SHARE * len(changed)
        # Short Spanish or Swedish words are often syllable-shaped: one fixed word needs a line
        # that is Vietnamese nearly throughout, two may sit beside foreign names.
        or after < (_MIN_VALID_SHARE if fixed >= 2 else _MIN_VNI_SHARE) * len(pairs)
    ):
        return None
    if _NOT_VNI.search(line):
        return None
    if _MAYBE_TCVN3.search(line) and _valid_count(_tcvn3_reading(line))[0] >= after:
        return None  # TCVN3 shares many cp1252 letters with VNI; corpus.tcvn3 repairs it
    if _UNICODE_ONLY.search(line):  # Unicode words beside VNI ones: convert only the words that need it
        return _WORD.sub(lambda m: _repaired_word(m.group()), line)
    return _vni_to_unicode(line)


def _repaired_word(word: str) -> str:
    new = _vni_to_unicode(word)
    return new if not _is_syllable(word) and _is_syllable(new) else word


def _repair_line(line: str) -> str:
    return repair_vni(line) or line


def _legacy_readings(raw: bytes) -> dict[str, str]:
    return {
        # VNI files hold no bytes cp1252 leaves undefined; a replacement char fails the syllable test.
        "VNI": _vni_to_unicode(raw.decode("cp1252", errors="replace")),
        "VISCII": codecs.charmap_decode(raw, "strict", _VISCII)[0],
    }


def _balance(text: str) -> int:
    valid, words = _valid_count(text)
    return valid - (words - valid)


def _plausible(reading: str) -> bool:
    if any(chr(byte) in reading for byte in _VISCII_C0):
        return False  # VISCII capitals read as control characters
    # ASCII words read the same in every encoding: only the words with other letters tell.
    words = [w for w in _words(reading) if not w.isascii()]
    # None at all is cp1252 punctuation (dashes, bullets) that VNI files carry between paragraphs.
    valid = sum(_is_syllable(w) for w in words)
    return not words or (valid >= 1 and valid >= _MIN_LEGACY_SHARE * len(words))


def decode_document(data: bytes, name: str) -> str:
    """Bytes of a text document -> Unicode text, legacy encodings converted per paragraph (line)."""
    from corpus.documents import MAX_DOCUMENT_BYTES  # corpus.documents may come to import this module

    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"{name} is {len(data)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return unicodedata.normalize("NFC", _decode_legacy(data.removeprefix(codecs.BOM_UTF8), name))
    return repair_text(text)


def repair_text(text: str) -> str:
    """Return Unicode `text` as a document is stored: NFC, lines of VNI mojibake converted.

    Text sent as a string (the write API's JSON) goes through this too, so the same words
    sent as a file or as JSON, composed or not, are the same document.
    """
    # Split on "\n" only: str.splitlines also breaks at \x1c-\x1e, \x85 and U+2028, which would
    # change the line count that citation offsets rely on.
    text = unicodedata.normalize("NFC", text)
    return unicodedata.normalize("NFC", "\n".join(_repair_line(line) for line in text.split("\n")))


def _decode_legacy(data: bytes, name: str) -> str:
    raw_lines = data.split(b"\n")
    # Bytes 0x80 and up, or the C0 controls where VISCII put six capitals, may be legacy text.
    suspect = {i: _legacy_readings(raw) for i, raw in enumerate(raw_lines) if not _PLAIN_ASCII.fullmatch(raw)}
    # A file is written in one legacy encoding: the one that reads best over the whole file goes
    # first, so that a line both can read ("– – –" is "Ờ Ờ Ờ" in VISCII) takes the file's.
    totals = {enc: sum(_valid_count(r[enc])[0] for r in suspect.values()) for enc in ("VNI", "VISCII")}
    order = sorted(totals, key=lambda enc: -totals[enc])
    lines: list[str] = []
    for i, raw in enumerate(raw_lines):
        if i not in suspect:
            lines.append(raw.decode("ascii"))
            continue
        legacy = next((r for r in (suspect[i][enc] for enc in order) if _plausible(r)), None)
        try:
            utf8: str | None = None if _VISCII_CONTROLS.search(raw) else _repair_line(raw.decode("utf-8"))
        except UnicodeDecodeError:
            utf8 = None
        # Legacy bytes are sometimes valid UTF-8 by chance ("người" in VISCII reads as "ng\u07f6i"),
        # so UTF-8 holds a line only while no legacy reading is more Vietnamese.
        if utf8 is not None and (legacy is None or _balance(legacy) <= _balance(utf8)):
            lines.append(utf8)
        elif legacy is not None:
            lines.append(legacy)
        else:
            raise CorpusError(
                f"{name} line {i + 1}: not UTF-8 text, and neither VNI (cp1252) nor VISCII gives Vietnamese "
                "words (tried UTF-8, VNI, VISCII; TCVN3 is only repaired inside UTF-8 text: convert the file to UTF-8)"
            )
    return "\n".join(lines)
