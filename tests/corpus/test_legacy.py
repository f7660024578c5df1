from __future__ import annotations

import shutil
import subprocess
import unicodedata

import pytest

from corpus import legacy
from corpus.documents import MAX_DOCUMENT_BYTES
from corpus.errors import CorpusError, DocumentTooLarge
from corpus.legacy import decode_document, repair_vni

FOUNDED = "Đảng bộ Khối các cơ quan thành phố được thành lập ngày 27-01-1994."
COMMITTEE = "Ban Chấp hành gồm 35 đồng chí."
# Every tone on ư, ơ, ă, â, ê, ô, the five i letters, đ, and capitals.
ALL_MARKS = (
    "Ừ, ứng cử, sử sách, những người, sự thật; mới mời mở mỡ mợ; ăn mắt mằn mẳn mẵn mặt; "
    "ấm ầm ẩm ẫm ậm; ếch ềnh ểnh ễnh ệt; ốc ồn ổn ỗ ộp; chị chỉ chĩnh chính chì; "
    "ĐẢNG ỦY VIỆT NAM ƯU TIÊN ỨNG DỤNG, ẤN ĐỘ, Ở ĐÂU."
)
SENTENCES = (FOUNDED, COMMITTEE, ALL_MARKS)
# TCVN3 garbling as corpus.tcvn3 sees it (after NFKC); that module repairs it, this one must not touch it.
TCVN3_LINE = "tÝch cùc thực hiện c \u0327c chuyan ®Ò cô thÓ ho \u0327 NghÞ quyÕt của Đảng."

# Written out by hand from the VNI-Windows layout, not produced by the code under test.
VNI_LITERALS = {
    "Ñaûng boä": "Đảng bộ",
    "Vieät Nam": "Việt Nam",
    "Haûi Phoøng": "Hải Phòng",
    "Ban Chaáp haønh goàm 35 ñoàng chí.": COMMITTEE,
    "Saün coù ôû Ñaø Naüng": "Sẵn có ở Đà Nẵng",
    "NGÖÔØI VIEÄT": "NGƯỜI VIỆT",
}
# Single words from the RFC 1456 table.
VISCII_LITERALS = {
    b"Vi\xaet": "Việt",
    b"\xd0\xe4ng": "Đảng",
    b"ng\xdf\xb6i": "người",
    b"Nguy\xadn": "Nguyễn",
    b"H\xe4i Ph\xf2ng": "Hải Phòng",
    b"K\x19": "KỸ",
}

_TONE = {"\u0301": 0, "\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0323": 4, "": 5}  # acute grave hook tilde dot none
_PLAIN_MARKS, _CIRCUMFLEX_MARKS, _BREVE_MARKS, _I_LETTERS = "ùøûõï", "áàåãäâ", "éèúüëê", "íìæóòi"


def vni(text: str) -> str:
    """`text` in VNI-Windows as read in cp1252: base letter plus mark letter."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if char in "đĐ":
            out.append("ñ" if char == "đ" else "Ñ")
            continue
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        tone = next((m for m in marks if m in _TONE and m), "")
        upper = base.isupper()
        lower = base.lower()
        if lower == "i":
            letter = _I_LETTERS[_TONE[tone]]
            out.append(letter.upper() if upper else letter)
            continue
        if "\u031b" in marks:  # horn: ơ and ư are single letters in VNI
            base = {"o": "ô", "u": "ö"}[lower]
            base = base.upper() if upper else base
        if "\u0302" in marks:
            mark = _CIRCUMFLEX_MARKS[_TONE[tone]]
        elif "\u0306" in marks:
            mark = _BREVE_MARKS[_TONE[tone]]
        else:
            mark = _PLAIN_MARKS[_TONE[tone]] if tone else ""
        out.append(base + (mark.upper() if upper else mark))
    return "".join(out)


def viscii(text: str) -> bytes:
    """`text` in VISCII, through the module's table (checked against glibc and the RFC below)."""
    encode = {char: byte for byte, char in enumerate(legacy._VISCII)}
    return bytes(encode[c] for c in unicodedata.normalize("NFC", text))


def test_vni_literals_match_the_encoder_and_are_repaired() -> None:
    for mojibake, expected in VNI_LITERALS.items():
        assert vni(expected) == mojibake
        assert repair_vni(mojibake) == expected


@pytest.mark.parametrize("sentence", SENTENCES)
def test_vni_mojibake_of_a_sentence_is_repaired(sentence: str) -> None:
    assert repair_vni(vni(sentence)) == sentence


@pytest.mark.parametrize(
    "line",
    [
        *SENTENCES,
        "Hoàng có còn ở đó không? Toàn bộ ngoài trời.",  # reads as other valid words through VNI
        "Un café crème, s'il vous plaît, à côté de l'église où il a dîné.",
        "Noël: naïve aéroport",
        "The committee met on Monday to approve the budget.",
        TCVN3_LINE,
        "Où est-il ? Il a dit où il va.",
        "",
    ],
)
def test_lines_that_are_not_vni_are_left_alone(line: str) -> None:
    assert repair_vni(line) is None


def test_viscii_table_matches_the_rfc_literals() -> None:
    for raw, expected in VISCII_LITERALS.items():
        assert viscii(expected) == raw
        assert decode_document(raw + b"\n" + b"\xd0\xe4ng b\xb5", "a.txt") == expected + "\nĐảng bộ"


@pytest.mark.skipif(shutil.which("iconv") is None, reason="needs glibc iconv")
def test_viscii_table_matches_glibc_iconv() -> None:
    glibc = subprocess.run(["iconv", "-f", "VISCII", "-t", "UTF-8"], input=bytes(range(256)), capture_output=True)
    assert glibc.stdout.decode("utf-8") == legacy._VISCII


def test_utf8_documents_are_unchanged() -> None:
    text = f"{FOUNDED}\n\nUn café crème, s'il vous plaît.\nThe committee met on Monday.\r\n{COMMITTEE}\n"
    assert decode_document(text.encode(), "a.txt") == text
    assert decode_document(b"\xef\xbb\xbf" + text.encode(), "a.txt") == text


def test_utf8_output_is_nfc() -> None:
    assert decode_document(unicodedata.normalize("NFD", FOUNDED).encode(), "a.txt") == FOUNDED


def test_vni_mojibake_lines_inside_utf8_are_converted_and_others_kept() -> None:
    kept = [FOUNDED, "Un café crème.", "", "Hoàng có còn ở đó không?", TCVN3_LINE, "Où est-il?"]
    lines = [kept[0], vni(COMMITTEE), *kept[1:3], vni(ALL_MARKS), *kept[3:]]
    decoded = decode_document("\r\n".join(lines).encode(), "a.txt").split("\r\n")
    assert decoded == [kept[0], COMMITTEE, *kept[1:3], ALL_MARKS, *kept[3:]]


def test_whole_viscii_file() -> None:
    text = "\r\n".join([*SENTENCES, "", "KỸ", "Ỷ LẠI"]) + "\r\n"
    assert decode_document(viscii(text), "old.txt") == text


def test_whole_vni_file() -> None:
    text = "\n".join([*SENTENCES, "", "– – –", "Hải Phòng, ngày 16 tháng 01 năm 2024"])
    data = vni(text).encode("cp1252")
    assert decode_document(data, "old.txt") == text


def test_mixed_file_keeps_every_line_in_place() -> None:
    lines = [
        FOUNDED.encode(),
        vni(COMMITTEE).encode("cp1252"),
        b"",
        "Tiếng Việt.".encode(),
        vni(ALL_MARKS).encode("cp1252"),
    ]
    decoded = decode_document(b"\n".join(lines), "mixed.txt")
    assert decoded.split("\n") == [FOUNDED, COMMITTEE, "", "Tiếng Việt.", ALL_MARKS]


def test_garbage_bytes_are_refused_with_file_and_line() -> None:
    garbage = bytes([0xFE, 0xD8, 0xC3, 0xBF, 0xE6, 0xA5, 0xF7, 0x9C, 0xDD, 0x20, 0xDB, 0xC7, 0xBC, 0xF1, 0xAA, 0xE9])
    data = b"\n".join([FOUNDED.encode(), vni(COMMITTEE).encode("cp1252"), garbage])
    with pytest.raises(CorpusError, match=r"junk\.txt line 3") as info:
        decode_document(data, "junk.txt")
    assert all(name in str(info.value) for name in ("UTF-8", "VNI", "VISCII", "TCVN3"))


def test_size_limit_is_enforced() -> None:
    with pytest.raises(DocumentTooLarge, match="big.txt"):
        decode_document(b"a" * (MAX_DOCUMENT_BYTES + 1), "big.txt")


def test_unicode_words_beside_vni_ones_are_kept() -> None:
    # a line with letters VNI cannot hold (đ, ọ) is partly Unicode: only its VNI words change
    assert repair_vni("Tôi có đọc bài Ñaûng boä") == "Tôi có đọc bài Đảng bộ"
