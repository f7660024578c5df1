from __future__ import annotations

from pathlib import Path

from index.thesaurus import Thesaurus

GROUPS = (
    "# documents' wording first\nthanh niên\tlớp trẻ\tgiới trẻ\ntrụ sở\tnơi làm việc\nhuân chương\tkỷ niệm chương\n"
)
COLLECTION = ["Đoàn Thanh niên có 126 đoàn viên. Trụ sở chuyển về số 18 Hồ Xuân Hương; nơi làm việc rộng rãi."]


def test_phrases_the_collection_never_uses_bring_its_own_wording(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.tsv"
    path.write_text(GROUPS, encoding="utf-8")
    thesaurus = Thesaurus.for_collection(COLLECTION, path)
    assert thesaurus.expand("Tổ chức của lớp trẻ buổi đầu có bao nhiêu người?") == "thanh niên"
    assert thesaurus.expand("GIỚI TRẺ và lớp trẻ") == "thanh niên thanh niên"
    assert thesaurus.expand("thanh niên có bao nhiêu người") is None  # already the collection's word
    assert thesaurus.expand("nơi làm việc ở đâu") is None  # the collection uses this wording too
    assert thesaurus.expand("kỷ niệm chương") is None  # the collection has no word for it


def test_the_shipped_thesaurus_is_well_formed() -> None:
    thesaurus = Thesaurus.for_collection(["Đoàn Thanh niên Cộng sản Hồ Chí Minh"])
    assert thesaurus.expand("lớp trẻ") == "thanh niên"
    assert len(thesaurus.rewrites) > 300
