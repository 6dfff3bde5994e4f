"""python -m benchmarks --dataset kodak --codecs nic,jpeg,bpg [--jobs 2] [--limit N]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import datasets, report, runner

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nic bench", description="Rate–distortion benchmark of NIC against classic codecs")
    ap.add_argument("--dataset", default="kodak", help=f"one of {', '.join(datasets.DATASETS)}")
    ap.add_argument("--root", help="any folder of images instead of a named dataset")
    ap.add_argument("--codecs", default="nic,jpeg,jpeg420,webp,avif,bpg", help="comma-separated codec names")
    ap.add_argument("--anchor", default="bpg", help="codec the BD-rates are measured against")
    ap.add_argument("--out", help="report folder (default benchmarks/results/<dataset>)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--limit", type=int, help="use only the first N images (quick looks; not for reports)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    try:
        label, images = datasets.resolve(a.dataset if not a.root else None, a.root)
    except (datasets.DatasetMissing, ValueError) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    images = images[: a.limit] if a.limit else images
    out = Path(a.out) if a.out else RESULTS / label
    rows, active = runner.run(a.codecs.split(","), images, out.parent / "cache" / label, a.jobs, not a.no_progress)
    path = report.write(rows, active, label, len(images), out, a.anchor)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
