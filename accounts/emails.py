import unicodedata


def email_normalize(raw: str) -> str:
    """One spelling per address: NFKC, trimmed, lower-cased (local part included).

    Lower-casing the local part is what every mainstream provider does in practice, and it
    keeps `Ana@Example.com` and `ana@example.com` from becoming two students.
    """
    return unicodedata.normalize("NFKC", raw).strip().lower()
