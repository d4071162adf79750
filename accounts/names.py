import unicodedata

# Punctuation that legitimately appears in names: O'Neil, Jean-Luc, J. R., D\u2019Ávila.
_NAME_PUNCTUATION = set("'\u2019\u2018-\u2010.,()")


def person_name_normalize(raw: str) -> str:
    """NFC, trimmed, inner whitespace collapsed. Raises ValueError for a non-name.

    Letters of any script and their combining marks are accepted (李小龍, Ανδρέας, محمد,
    Nguyễn); digits, symbols, emoji and control or format characters are not.
    """
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise ValueError("A name is required.")
    has_letter = False
    for character in name:
        category = unicodedata.category(character)
        if category.startswith("L"):
            has_letter = True
        elif category.startswith("M") or character == " " or character in _NAME_PUNCTUATION:
            continue
        else:
            raise ValueError(
                "A name may contain letters, spaces, apostrophes, hyphens and periods."
            )
    if not has_letter:
        raise ValueError("A name must contain at least one letter.")
    return name
