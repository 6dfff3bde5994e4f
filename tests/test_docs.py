"""The documents a user reads: every relative link resolves, and the README stays a short manual."""
import re

from .conftest import ROOT

DOCS = ["README.md", "CHANGELOG.md", "DESIGN.md", "RELIABILITY.md", "bitstream/SPEC.md",
        *[str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md"))]]


def test_relative_links_resolve():
    broken = []
    for name in DOCS:
        path = ROOT / name
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")) and not (path.parent / target).exists():
                broken.append(f"{name}: {target}")
    assert not broken, broken


def test_readme_is_a_short_manual_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 10_000
    assert "make demo" in text and "make test" in text


def test_the_api_reference_is_what_the_code_says():
    from .make_api_doc import PAGE, page

    assert PAGE.read_text() == page(), "docs/API.md is stale: run python -m tests.make_api_doc"
