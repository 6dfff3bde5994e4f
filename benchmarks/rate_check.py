"""Real file size vs the model's own rate estimate, and container overhead, over a dataset.

    python -m benchmarks.rate_check --dataset kodak

The estimate is the model's -log2 likelihood of the latents it codes (continuous Gaussian scales,
float h_s, the learned factorized prior); the file adds the scale-table/fixed-point quantisation,
the range coder's own overhead and the container.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    import torch

    import hific_codec
    from hific_codec import codec

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="kodak")
    ap.add_argument("--qualities", default="0,25,50,75,100")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    label, files = datasets.resolve(a.dataset)
    qs = [float(q) for q in a.qualities.split(",")]
    m = codec.load()
    rows = []
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"))
        an = codec.analyse(m, rgb)
        for q in qs:
            est = codec.estimate_bits(m, an, q) / 8
            data = hific_codec.encode(rgb, q)
            streams = sum(n for t, n in hific_codec.info(data).chunks if t in ("ZLAT", "YLAT"))
            rows.append((f.name, q, len(data), streams, est, len(data) - streams))
    r = np.array([[x[2], x[3], x[4], x[5]] for x in rows], dtype=float)
    dev = (r[:, 1] - r[:, 2]) / r[:, 2] * 100
    lines = [f"# Rate check on {label} ({len(files)} images x qualities {a.qualities})", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m benchmarks.rate_check --dataset {label}`.", "",
             "| quality | mean file bytes | mean (streams - estimate) / estimate | max abs deviation | container overhead (bytes) |",
             "|---:|---:|---:|---:|---:|"]
    for q in qs:
        sel = np.array([x[1] == q for x in rows])
        lines.append(f"| {q:g} | {r[sel, 0].mean():.0f} | {dev[sel].mean():+.2f}% | {np.abs(dev[sel]).max():.2f}% | "
                     f"{r[sel, 3].min():.0f}–{r[sel, 3].max():.0f} |")
    lines += ["", f"Points within 2% of the estimate: {(np.abs(dev) <= 2).sum()} of {len(dev)}; over 2%: "
              + (", ".join(f"{x[0]} q{x[1]:g} ({d:+.2f}%)" for x, d in zip(rows, dev) if abs(d) > 2) or "none") + "."]
    lines += ["", (f"All points: mean deviation {dev.mean():+.2f}%, max |deviation| {np.abs(dev).max():.2f}%, "
                  f"container overhead {r[:, 3].min():.0f}–{r[:, 3].max():.0f} bytes per file.")]
    out = RESULTS / label / "RATE_CHECK.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
