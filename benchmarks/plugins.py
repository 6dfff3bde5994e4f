"""All plugin reports in one command: super-resolution, style transfer, translation.

    python -m benchmarks.plugins      # -> benchmarks/results/plugins/PLUGINS.md (+ SR.md, STYLE.md, TRANSLATE.md)

Plugins whose weights are not installed are skipped with a note.
"""
from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "plugins"


def main(argv: list[str] | None = None) -> int:
    from hific_codec import zoo

    from . import sr, style, translate

    have = set(zoo.entries())
    sections, skipped = [], []
    learned = [p for p in ("sr2", "sr4") if p in have]
    sr.main(["--plugins", ",".join(["bicubic2", "bicubic4", *learned])])
    sections.append("SR.md")
    if "style-4" in have:
        style.main([])
        sections.append("STYLE.md")
    else:
        skipped.append("style (weights style-4 not installed)")
    if {"facades-labels2photo", "facades-photo2labels"} <= have:
        translate.main([])
        sections.append("TRANSLATE.md")
    else:
        skipped.append("translate (facades weights not installed)")
    text = ["# Plugin reports", "", "Produced by `python -m benchmarks.plugins`.", ""]
    for name in sections:
        body = (OUT / name).read_text().splitlines()
        text += ["#" + body[0], *body[1:], ""]  # each report becomes a section
    text += [f"Skipped: {s}." for s in skipped]
    (OUT / "PLUGINS.md").write_text("\n".join(text) + "\n")
    print(f"report: {OUT / 'PLUGINS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
