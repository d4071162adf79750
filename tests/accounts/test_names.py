import unicodedata

import pytest

from accounts.names import person_name_normalize


@pytest.mark.parametrize(
    "name",
    [
        "Ana Silva",  # Latin
        "João Gonçalves",
        "Ανδρέας Παπαδόπουλος",  # Greek
        "محمد عبد الله",  # Arabic
        "李小龍",  # CJK
        "山田 太郎",
        "김민준",  # Hangul
        "Nguyễn Thị Minh Khai",  # Vietnamese (stacked diacritics)
        "देवनागरी शर्मा",  # Devanagari (vowel signs are combining marks)
        "Владимир Петров",  # Cyrillic
        "O'Neil",
        "D\u2019Ávila",
        "Jean-Luc Picard",
        "J. R. R. Tolkien",
        "María (Majo) Pérez",
    ],
)
def test_names_in_any_script_are_accepted_unchanged(name):
    assert person_name_normalize(name) == name


@pytest.mark.parametrize(
    ("decomposed", "composed"),
    [
        ("Jose\u0301", "José"),
        ("Nguye\u0302\u0303n", "Nguyễn"),
        ("Ana\u0308", "Anä"),
        ("A\u030angstro\u0308m", "Ångström"),
    ],
)
def test_a_decomposed_name_is_stored_composed_nfc(decomposed, composed):
    normalized = person_name_normalize(decomposed)

    assert normalized == composed
    assert unicodedata.is_normalized("NFC", normalized)


def test_surrounding_and_repeated_whitespace_is_collapsed():
    assert person_name_normalize("  Ana \t  Maria\n Silva  ") == "Ana Maria Silva"


@pytest.mark.parametrize(
    "name",
    [
        "Ana2",  # digits
        "R2-D2",
        "٣ Ahmed",  # Arabic-Indic digit
        "Ana 😀",  # emoji
        "👍",
        "Ana\x00Silva",  # control characters
        "Ana\x1b[31m",
        "Ana\x7f",
        "Ana\u200bSilva",  # zero-width space (format character)
        "Ana\u202eavlis",  # right-to-left override
        "Ana@Silva",  # symbols
        "Ana $ilva",
        "<script>",
        "Ana_Silva",
    ],
)
def test_names_with_digits_emoji_symbols_or_control_characters_are_rejected(name):
    with pytest.raises(ValueError, match="letters"):
        person_name_normalize(name)


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_an_empty_name_is_rejected(name):
    with pytest.raises(ValueError, match="required"):
        person_name_normalize(name)


@pytest.mark.parametrize("name", ["-", "'.", "( )", "\u0301"])
def test_a_name_of_punctuation_or_marks_only_is_rejected(name):
    with pytest.raises(ValueError, match="at least one letter"):
        person_name_normalize(name)
