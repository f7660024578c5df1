from __future__ import annotations

import unicodedata
from pathlib import Path

from corpus.normalize import canonical_tones, syllables
from index.thesaurus import THESAURUS, Rewrite, Thesaurus

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

GROUPS = (
    "# documents' wording first\nthanh niên\tlớp trẻ\tgiới trẻ\ntrụ sở\tnơi làm việc\nhuân chương\tkỷ niệm chương\n"
)
COLLECTION = ["Đoàn Thanh niên có 126 đoàn viên. Trụ sở chuyển về số 18 Hồ Xuân Hương; nơi làm việc rộng rãi."]


def test_phrases_the_collection_never_uses_bring_its_own_wording(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.tsv"
    path.write_text(GROUPS, encoding="utf-8")
    thesaurus = Thesaurus.for_collection(COLLECTION, path)
    rewrite = thesaurus.rewrite("Tổ chức của lớp trẻ buổi đầu có bao nhiêu người?")
    assert rewrite and rewrite.wording == "thanh niên"
    assert rewrite.text == "tổ chức của thanh niên buổi đầu có bao nhiêu người"
    assert thesaurus.rewrite("GIỚI TRẺ và lớp trẻ") == Rewrite("thanh niên thanh niên", "thanh niên và thanh niên")
    assert thesaurus.rewrite("thanh niên có bao nhiêu người") is None  # already the collection's word
    assert thesaurus.rewrite("nơi làm việc ở đâu") is None  # the collection uses this wording too
    assert thesaurus.rewrite("kỷ niệm chương") is None  # the collection has no word for it


def test_the_shipped_thesaurus_is_well_formed() -> None:
    corpus = " ".join(" ".join(syllables(p.read_text(encoding="utf-8"))) for p in CORPUS.glob("*.txt"))
    lines = [line for line in THESAURUS.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    seen: set[tuple[str, ...]] = set()
    for line in lines:
        assert unicodedata.is_normalized("NFC", line) and canonical_tones(line) == line, line
        group = [tuple(syllables(member)) for member in line.split("\t")]
        assert len(group) >= 2 and all(group), line
        assert f" {' '.join(group[0])} " in f" {corpus} ", f"the documents never say {group[0]}"
        assert not seen & set(group), f"a phrase of {line!r} is in another group"
        seen |= set(group)
    thesaurus = Thesaurus.for_collection(p.read_text(encoding="utf-8") for p in CORPUS.glob("*.txt"))
    rewrite = thesaurus.rewrite("lớp trẻ")
    assert rewrite and rewrite.wording == "thanh niên"
