"""Encoder effort: what per-image latent refinement (hific_codec/refine.py) buys with the shipped model.

    python -m benchmarks.effort            # -> benchmarks/results/effort/effort.json

Four Kodak images, their 256x256 centre crops (refinement back-propagates through g_s, so whole
images at effort 2 take 1.5 minutes each), qualities 20-80, effort 0, 1 and 2; BD-rate of each
effort against effort 0 from the crops' mean bpp and PSNR (and MS-SSIM), and the mean encode
time.  Whole Kodak images at effort 1 are the `nic-e1` codec of the main benchmark.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, metrics, report
from .bdrate import bd_rate

OUT = Path(__file__).resolve().parent / "results" / "effort"
IMAGES = ("kodim01.png", "kodim05.png", "kodim14.png", "kodim23.png")
QUALITIES = (20, 35, 50, 65, 80)


def centre_crop(rgb: np.ndarray, side: int = 256) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[h // 2 - side // 2 : h // 2 + side // 2, w // 2 - side // 2 : w // 2 + side // 2])


def measure(crops: list[np.ndarray], effort: int) -> dict:
    import hific_codec

    out = {"bpp": [], "psnr": [], "ms_ssim_db": [], "encode_s": []}
    for q in QUALITIES:
        b, p, ms, s = [], [], [], []
        for c in crops:
            t0 = time.perf_counter()
            data = hific_codec.encode(c, q, effort=effort)
            s.append(time.perf_counter() - t0)
            b.append(len(data) * 8 / (c.shape[0] * c.shape[1]))
            out_px = hific_codec.decode(data)
            p.append(metrics.psnr(c, out_px))
            ms.append(metrics.ms_ssim_db(metrics.ms_ssim(c, out_px)))
        for k, v in (("bpp", b), ("psnr", p), ("ms_ssim_db", ms), ("encode_s", s)):
            out[k].append(float(np.mean(v)))
    return out


def main() -> int:
    import torch

    from hific_codec import refine, zoo

    torch.set_num_threads(2)
    _, kodak = datasets.resolve("kodak")
    by_name = {p.name: p for p in kodak}
    crops = [centre_crop(np.asarray(Image.open(by_name[n]).convert("RGB"))) for n in IMAGES]
    res = {e: measure(crops, e) for e in (0, 1, 2)}
    entry = zoo.get()
    bd = {metric: {e: bd_rate(res[0]["bpp"], res[0][metric], res[e]["bpp"], res[e][metric]) for e in (1, 2)}
          for metric in ("psnr", "ms_ssim_db")}
    summary = {"model": entry.name, "weights": entry.sha256[:8], "images": IMAGES, "qualities": QUALITIES,
               "settings": {e: dataclasses.asdict(refine.EFFORTS[e]) for e in (1, 2)},
               "efforts": res, "bd_rate_vs_effort_0": bd["psnr"], "bd_rate_ms_ssim_vs_effort_0": bd["ms_ssim_db"],
               "machine": report.machine_summary(2), "date": report.machine()["date"]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "effort.json").write_text(json.dumps(summary, indent=1) + "\n")
    for e in (1, 2):
        print(f"effort {e} vs 0: BD-rate {bd['psnr'][e]:+.2f}% PSNR, {bd['ms_ssim_db'][e]:+.2f}% MS-SSIM, "
              f"encode {np.mean(res[e]['encode_s']):.2f} s vs {np.mean(res[0]['encode_s']):.2f} s per crop")
    print(f"wrote {OUT / 'effort.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
