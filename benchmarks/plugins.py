"""All plugin reports in one command: super-resolution, style transfer, translation, artifact removal.

    python -m benchmarks.plugins      # -> benchmarks/results/plugins/PLUGINS.md (+ SR.md, STYLE.md, TRANSLATE.md, ENHANCE.md)
    python -m benchmarks.plugins --only sr   # re-run one report, reuse the others

Plugins whose weights are not installed are skipped with a note.
"""
from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "plugins"


def main(argv: list[str] | None = None) -> int:
    import argparse

    from hific_codec import zoo

    from . import enhance, sr, style, translate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="sr,style,translate,enhance",
                    help="re-run these reports; the others are taken as they are on disk")
    only = set(ap.parse_args(argv).only.split(","))
    have = set(zoo.entries())
    sections, skipped = [], []
    learned = [p for p in ("sr2", "sr4") if p in have]
    if "sr" in only:
        sr.main(["--plugins", ",".join(["bicubic2", "bicubic4", *learned])])
    sections.append("SR.md")
    if "style-4" in have:
        if "style" in only:
            style.main([])
        sections.append("STYLE.md")
    else:
        skipped.append("style (weights style-4 not installed)")
    if {"facades-labels2photo", "facades-photo2labels"} <= have:
        if "translate" in only:
            translate.main([])
        sections.append("TRANSLATE.md")
    else:
        skipped.append("translate (facades weights not installed)")
    if "enhance" in have:
        if "enhance" in only:
            enhance.main([])
        sections.append("ENHANCE.md")
    else:
        skipped.append("enhance (weights not installed)")
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
