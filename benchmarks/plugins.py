"""All plugin reports in one command: super-resolution, style transfer, translation (pix2pix and
CycleGAN), artifact removal, colorization.

    python -m benchmarks.plugins      # -> benchmarks/results/plugins/PLUGINS.md (+ SR, STYLE, TRANSLATE, ENHANCE, COLORIZE)
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

    from . import colorize, enhance, sr, style, translate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default="sr,style,translate,enhance,colorize",
                    help="re-run these reports; the others are taken as they are on disk")
    only = set(ap.parse_args(argv).only.split(","))
    have = set(zoo.entries())
    sections, skipped = [], []
    learned = [p for p in ("sr2", "sr4") if p in have]
    # (report, its section file, the weights it needs, how to run it)
    reports = [("sr", "SR.md", set(), lambda: sr.main(["--plugins", ",".join(["bicubic2", "bicubic4", *learned])])),
               ("style", "STYLE.md", {"style-4"}, lambda: style.main([])),
               ("translate", "TRANSLATE.md", {"facades-labels2photo", "facades-photo2labels"},
                lambda: translate.main([])),
               ("enhance", "ENHANCE.md", {"enhance"}, lambda: enhance.main([])),
               ("colorize", "COLORIZE.md", {"colorize"}, lambda: colorize.main([]))]
    for name, section, needs, run in reports:
        if not needs <= have:
            skipped.append(f"{name} (weights {', '.join(sorted(needs - have))} not installed)")
            continue
        if name in only:
            run()
        sections.append(section)
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
