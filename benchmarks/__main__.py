"""python -m benchmarks --dataset kodak --codecs nic,jpeg,bpg [--jobs 2] [--limit N]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import codecs, datasets, report, runner

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None, default_out: Path | None = None) -> int:
    """``default_out``: the folder reports go to without --out (default benchmarks/results).
    ``--lossless`` hands the other arguments to the lossless comparison (benchmarks.lossless)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--lossless" in args:
        from . import lossless

        lossless.main([a for a in args if a != "--lossless"])
        return 0
    ap = argparse.ArgumentParser(prog="nic bench", description="Rate–distortion benchmark of NIC against classic codecs")
    ap.add_argument("--dataset", default="kodak", help=f"one of {', '.join(datasets.DATASETS)}")
    ap.add_argument("--root", help="any folder of images instead of a named dataset")
    ap.add_argument("--codecs", default="nic,jpeg,jpeg420,webp,avif,jxl,bpg", help="comma-separated codec names")
    ap.add_argument("--anchor", default="bpg", help="codec the BD-rates are measured against")
    ap.add_argument("--out", help=f"report folder (default {default_out or 'benchmarks/results'}/<dataset>)")
    ap.add_argument("--jobs", type=int, default=1, help="workers (processes, or Ray CPUs)")
    ap.add_argument("--engine", choices=["local", "ray"], default="local", help="where the work runs")
    ap.add_argument("--address", help="Ray cluster address (default: a local Ray; paths must be shared)")
    ap.add_argument("--limit", type=int, help="use only the first N images (quick looks; not for reports)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--update", action="store_true",
                    help="keep the report folder's other codecs as measured and rerun only --codecs")
    ap.add_argument("--no-fid", action="store_true", help="skip FID/KID (saves the feature network's time)")
    ap.add_argument("--inception-weights", help="safetensors of torchvision Inception-v3 for standard FID "
                    "(default: EfficientNet-Lite0 features, labelled as such)")
    a = ap.parse_args(argv)
    try:
        label, images = datasets.resolve(a.dataset if not a.root else None, a.root)
    except (datasets.DatasetMissing, ValueError) as e:
        print(f"nic bench: error: {e}", file=sys.stderr)
        return 1
    images = images[: a.limit] if a.limit else images
    out = Path(a.out) if a.out else (default_out or RESULTS) / label
    unknown = [c for c in a.codecs.split(",") if c not in codecs.REGISTRY]
    if unknown:
        print(f"nic bench: error: unknown codec {unknown[0]!r}; known: {', '.join(sorted(codecs.REGISTRY))}",
              file=sys.stderr)
        return 1
    if a.inception_weights:
        import os

        os.environ["NIC_INCEPTION_WEIGHTS"] = a.inception_weights  # read by worker processes too
    cache = out.parent / "cache" / label
    rows, active = runner.run(a.codecs.split(","), images, cache, a.jobs, not a.no_progress, with_fid=not a.no_fid,
                               engine=a.engine, address=a.address)
    fid_ctx = None
    if not a.no_fid:
        from . import fid

        ref = np.concatenate(runner.original_features(images, cache)).astype(np.float64)
        fid_ctx = {"cache": cache, "reference": ref, "label": fid.feature_net().label}
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    path = report.write(rows, active, label, len(images), out, a.anchor, fid_ctx, command, a.jobs, a.update)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
