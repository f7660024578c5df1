from __future__ import annotations

import datetime as dt

import pytest

from corpus import DEFAULT_CORPUS_DIR
from corpus.chunk import ChunkSettings, approximate_tokens, split_into_chunks, split_sentences
from corpus.documents import Document, DocumentMeta, load_corpus, make_document

SMALL = ChunkSettings(max_tokens=60, overlap_sentences=1)
TEXT = "\n".join(
    [
        "Đảng bộ Khối được thành lập ngày 27-01-1994. Lúc mới thành lập có 59 tổ chức đảng cơ sở.",
        "I. Thành lập và ổn định tổ chức",
        "Năm 1995, Đảng ủy lâm thời ổn định tổ chức. Công tác xây dựng Đảng được triển khai kịp thời. "
        "Các mặt công tác đạt kết quả tích cực. Đội ngũ cán bộ chuyên trách còn ít.",
        "Trụ sở được đặt tại số 6 đường Đinh Tiên Hoàng. Sau đó chuyển về số 18 Hồ Xuân Hương.",
        "II. TRUYỀN THỐNG VÀ BÀI HỌC KINH NGHIỆM",
        "Một là, bám sát sự lãnh đạo của Thành ủy. Hai là, chú trọng công tác xây dựng Đảng.",
    ]
)


def _document(text: str = TEXT, doc_id: str = "lich-su") -> Document:
    return make_document(DocumentMeta(doc_id, "Lịch sử Đảng bộ Khối", dt.date(2024, 1, 16)), text)


def test_sentences_split_at_sentence_ends_only() -> None:
    text = "Ngày 27-01-1994 thành lập. TP. Hải Phòng có 59 tổ chức, 2.522 đảng viên. “Gương mẫu” là truyền thống."
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "Ngày 27-01-1994 thành lập.",
        "TP. Hải Phòng có 59 tổ chức, 2.522 đảng viên.",
        "“Gương mẫu” là truyền thống.",
    ]


def test_offsets_reproduce_every_chunk() -> None:
    document = _document()
    for chunk in split_into_chunks(document, SMALL):
        assert document.text[chunk.start : chunk.end] == chunk.text
        assert approximate_tokens(chunk.text) <= SMALL.max_tokens


def test_no_chunk_crosses_a_section() -> None:
    document = _document()
    chunks = split_into_chunks(document, SMALL)
    assert [c.section for c in chunks][0] is None
    assert {c.section for c in chunks} == {
        None,
        "I. Thành lập và ổn định tổ chức",
        "II. TRUYỀN THỐNG VÀ BÀI HỌC KINH NGHIỆM",
    }
    for chunk in chunks:
        if chunk.section:
            heading_at = document.text.index(chunk.section)
            assert chunk.start >= heading_at
            assert chunk.text.count("\nI") == 0 and not any(
                line.startswith(("I. ", "II. ")) for line in chunk.text.split("\n")[1:]
            )


def test_paragraph_ranges_are_lines_of_the_clean_text() -> None:
    document = _document()
    lines = document.text.split("\n")
    for chunk in split_into_chunks(document, SMALL):
        first, last = chunk.paragraphs
        assert chunk.text.split("\n")[0] in lines[first - 1]
        assert chunk.text.split("\n")[-1] in lines[last - 1]


def test_consecutive_chunks_of_a_section_overlap_by_one_sentence() -> None:
    chunks = [c for c in split_into_chunks(_document(), SMALL) if c.section and c.section.startswith("I.")]
    assert len(chunks) >= 2
    for before, after in zip(chunks, chunks[1:]):
        assert after.start < before.end


def test_ids_are_stable_when_text_is_appended() -> None:
    before = split_into_chunks(_document(), SMALL)
    grown = split_into_chunks(
        _document(TEXT + "\nIII. Phương hướng mới\nNăm 2024, Đảng bộ tiếp tục phát triển."), SMALL
    )
    assert {c.chunk_id for c in before} <= {c.chunk_id for c in grown}
    assert len(grown) > len(before)


def test_ids_are_stable_when_a_document_is_added() -> None:
    first = split_into_chunks(_document(), SMALL)
    other = split_into_chunks(_document("Một văn bản khác. Có hai câu.", doc_id="khac"), SMALL)
    assert [c.chunk_id for c in split_into_chunks(_document(), SMALL)] == [c.chunk_id for c in first]
    assert not {c.chunk_id for c in first} & {c.chunk_id for c in other}


def test_an_overlong_sentence_is_split_at_clause_boundaries() -> None:
    sentence = "Đảng ủy đã lãnh đạo " + ", ".join(f"nhiệm vụ thứ {i} của thành phố" for i in range(60)) + "."
    document = _document(sentence)
    chunks = split_into_chunks(document, SMALL)
    assert len(chunks) > 3
    assert all(approximate_tokens(c.text) <= SMALL.max_tokens for c in chunks)


@pytest.mark.parametrize("max_tokens", [128, 200])
def test_real_articles_chunk_within_budget(max_tokens: int) -> None:
    settings = ChunkSettings(max_tokens=max_tokens)
    for document in load_corpus(DEFAULT_CORPUS_DIR):
        chunks = split_into_chunks(document, settings)
        assert chunks
        for chunk in chunks:
            assert document.text[chunk.start : chunk.end] == chunk.text
            assert approximate_tokens(chunk.text) <= max_tokens


def test_a_heading_is_never_a_chunk_on_its_own() -> None:
    long_sentence = "Đảng ủy lâm thời đã " + " ".join(["lãnh đạo ổn định tổ chức"] * 9) + "."
    document = _document("II. THÀNH LẬP ĐẢNG BỘ KHỐI (1994 - 1995)\n" + long_sentence)
    chunks = split_into_chunks(document, SMALL)
    assert chunks[0].text.startswith("II. THÀNH LẬP ĐẢNG BỘ KHỐI (1994 - 1995)\nĐảng ủy")
    assert all(approximate_tokens(c.text) <= SMALL.max_tokens for c in chunks)
    for real in load_corpus(DEFAULT_CORPUS_DIR):
        assert all(c.text != c.section for c in split_into_chunks(real, ChunkSettings()))


def test_initials_do_not_open_a_section() -> None:
    document = _document("I. Học tập lý luận\nTheo V. I. Lênin, đảng viên phải học tập.\nC. Mác viết về giai cấp.")
    assert {c.section for c in split_into_chunks(document, SMALL)} == {"I. Học tập lý luận"}
