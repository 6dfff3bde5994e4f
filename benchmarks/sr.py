"""Super-resolution plugins on Set5, Set14 and BSD100, with the usual protocol.

    python -m benchmarks.sr --plugins bicubic2,bicubic4[,sr2,sr4]

Protocol (as in SRCNN / EDSR reports): the LR inputs are the sets' own bicubic downscales
(`LR_x2`, `LR_x4`); the ground truth is the HR image cropped from the top left to scale x the LR
size; PSNR and SSIM are computed on the luma channel Y (ITU-R BT.601, 16..235) after cropping
`scale` pixels from every border.  SSIM is Wang et al.'s (11x11 Gaussian window, sigma 1.5, valid
region).  Writes ``benchmarks/results/plugins/{sr.json, SR.md}``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import report
from .datasets import data_root
from .metrics import psnr as psnr_y  # on luma planes, peak 255 as the SR papers use

OUT = Path(__file__).resolve().parent / "results" / "plugins"
SETS = ("Set5", "Set14", "BSD100")
SEED_TABLE = {  # published x4 figures quoted by the issue, for context in the report
    ("Set14", 4): {"bicubic": 25.99, "SRCNN": 27.49}, ("BSD100", 4): {"bicubic": 25.96, "SRCNN": 26.90},
}


def luma(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64)
    if x.ndim == 2:
        return x  # grey images are their own luma (as in the reference scripts' single-channel case)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def _gauss(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.signal import convolve2d

    w = _gauss()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda x: convolve2d(x, w, mode="valid")
    mu_a, mu_b = f(a), f(b)
    var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(m.mean())


def pairs(set_name: str, scale: int) -> list[tuple[Path, Path]]:
    root = data_root() / "sr" / set_name
    lrs = sorted((root / f"LR_x{scale}").glob("*.png"))
    hrs = {p.name.split("_SRF_")[0]: p for p in (root / "HR").glob("*.png")}
    return [(hrs[p.name.split("_SRF_")[0]], p) for p in lrs]


def evaluate(spec: str, set_name: str) -> dict:
    from hific_codec import plugins

    plugin = plugins.create(spec)
    scale = plugin.output_size(1, 1)[0]
    rows, seconds = [], 0.0
    for hr_path, lr_path in pairs(set_name, scale):
        lr = np.asarray(Image.open(lr_path))
        hr = np.asarray(Image.open(hr_path))[: lr.shape[0] * scale, : lr.shape[1] * scale]
        t0 = time.perf_counter()
        sr = plugin(lr)
        seconds += time.perf_counter() - t0
        ys, yh = luma(sr)[scale:-scale, scale:-scale], luma(hr)[scale:-scale, scale:-scale]
        rows.append((psnr_y(ys, yh), ssim_y(ys, yh)))
    r = np.array(rows)
    return {"plugin": spec, "set": set_name, "scale": scale, "images": len(rows), "psnr_y": float(r[:, 0].mean()),
            "ssim_y": float(r[:, 1].mean()), "seconds_per_image": seconds / max(1, len(rows))}


def grid(specs: list[str], out: Path, set_name: str = "Set5", index: int = 2, box: int = 96, zoom: int = 3) -> None:
    """One picture: a box x box crop of the ground truth and of each plugin's output on the
    same region (Set5 image 3, the butterfly), enlarged ``zoom`` x with nearest neighbour."""
    from PIL import ImageDraw

    from hific_codec import plugins

    tiles = []
    for spec in specs:
        p = plugins.create(spec)
        scale = p.output_size(1, 1)[0]
        hr_path, lr_path = pairs(set_name, scale)[index]
        lr = np.asarray(Image.open(lr_path).convert("RGB"))
        hr = np.asarray(Image.open(hr_path).convert("RGB"))[: lr.shape[0] * scale, : lr.shape[1] * scale]
        i, j = (hr.shape[0] - box) // 2, (hr.shape[1] - box) // 2
        if not tiles:
            tiles.append(("original", hr[i : i + box, j : j + box]))
        tiles.append((spec, p(lr)[i : i + box, j : j + box]))
    side = box * zoom
    canvas = Image.new("RGB", (side * len(tiles), side + 18), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (label, img) in enumerate(tiles):
        canvas.paste(Image.fromarray(img).resize((side, side), Image.NEAREST), (k * side, 18))
        draw.text((k * side + 4, 3), label, fill="black")
    canvas.save(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugins", default="bicubic2,bicubic4")
    a = ap.parse_args(argv)
    results = [evaluate(p, s) for p in a.plugins.split(",") for s in SETS]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sr.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# Super-resolution plugins", "",
             (f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m benchmarks.sr "
             f"--plugins {a.plugins}` on {report.machine_summary(2)}."), "",
             ("Y-channel PSNR (dB) / SSIM, `scale` border pixels cropped; LR inputs are the sets' own bicubic "
             "downscales. Published x4 references (from the issue): Set14 bicubic 25.99 / SRCNN 27.49; "
             "BSD100 bicubic 25.96 / SRCNN 26.90."), "",
             "| plugin | scale | " + " | ".join(SETS) + " | s / image (BSD100) |", "|---|---:|" + "---:|" * (len(SETS) + 1)]
    for p in a.plugins.split(","):
        rs = {r["set"]: r for r in results if r["plugin"] == p}
        cells = " | ".join(f"{rs[s]['psnr_y']:.2f} / {rs[s]['ssim_y']:.4f}" for s in SETS)
        lines.append(f"| {p} | x{rs[SETS[0]]['scale']} | {cells} | {rs['BSD100']['seconds_per_image']:.3f} |")
    grid(a.plugins.split(","), OUT / "sr_grid.png")
    lines += ["", "![grid](sr_grid.png)", "",
              ("Centre 96x96 crop of Set5 image 3 (butterfly): the ground truth, then each plugin's output on "
              "its own LR input, enlarged 3x (nearest neighbour).")]
    (OUT / "SR.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
