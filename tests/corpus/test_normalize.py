from __future__ import annotations

from corpus.normalize import canonical_tones, fold_diacritics, match_key, syllables


def test_old_and_new_tone_placement_share_one_form() -> None:
    assert canonical_tones("hoà") == canonical_tones("hòa") == "hòa"
    assert canonical_tones("Thuỷ") == canonical_tones("Thủy") == "Thủy"
    assert canonical_tones("khoá") == "khóa"


def test_tone_placement_leaves_other_syllables_alone() -> None:
    for word in ("quý", "hoàng", "thuyền", "người", "Nghị quyết", "luận", "kỷ luật", "hoặc", "Huệ", "thuận"):
        assert canonical_tones(word) == word


def test_fold_diacritics_removes_marks_and_bar_of_d() -> None:
    assert fold_diacritics("Đảng bộ Khối được thành lập") == "Dang bo Khoi duoc thanh lap"


def test_match_key_ignores_case_spacing_and_tone_placement() -> None:
    assert match_key("  Cụ thể HOÁ\n nghị quyết ") == match_key("cụ thể hóa nghị quyết")


def test_syllables_are_lowercase_words_and_numbers() -> None:
    assert syllables("Ngày 27-01-1994, Đảng bộ") == ["ngày", "27", "01", "1994", "đảng", "bộ"]
