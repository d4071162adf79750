"""The README and docs/ link only to files that are in the repository: a reader of a
checkout (or of the published repository) can follow every relative link."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


def relative_links(document: Path) -> list[str]:
    targets = [inline or reference for inline, reference in LINK.findall(document.read_text())]
    return [
        target.split("#")[0]
        for target in targets
        if not re.match(r"^[a-z]+:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_points_at_a_file_of_the_repository(document):
    for target in relative_links(document):
        path = (document.parent / target).resolve()

        assert path.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert path.exists(), f"{document.name} links to a missing file: {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_no_document_refers_to_the_shared_directory(document):
    assert "../shared" not in document.read_text()


def test_the_localstripe_summary_is_linked_from_the_docs():
    assert (ROOT / "docs" / "localstripe.md").exists()
    assert "localstripe.md" in (ROOT / "docs" / "stripe-webhooks.md").read_text()
