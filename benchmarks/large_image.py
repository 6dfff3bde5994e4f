"""Large-image check: encode and decode a 12000x9000 photo mosaic, peak memory, time, seams.

    python -m benchmarks.large_image [--width 12000 --height 9000] [--quality 50]

Encode and decode each run in their own process, so each peak RSS (ru_maxrss) is that step's
alone, input array included.  Seams are measured two ways: the reconstruction error on the pixel
rows/columns next to the 1024-px tile borders against the error everywhere (1.0 = no seam), and
tiled against untiled synthesis of a 2048x2048 region (max pixel difference).  Writes
``benchmarks/results/large_image/{large_image.json, seam_crop.png}``.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, metrics, report

OUT = Path(__file__).resolve().parent / "results" / "large_image"
TILE = 1024


CELL = (900, 1400)  # (h, w) of each photo in the mosaic: borders fall away from the 1024-px tiles


def mosaic(width: int, height: int) -> np.ndarray:
    """Real photos (DIV2K validation, else the demo image), centre-cropped to CELL and tiled."""
    try:
        _, files = datasets.resolve("div2k")
    except datasets.DatasetMissing:
        files = [Path(__file__).resolve().parent.parent / "assets" / "kodim23.png"]
    ch, cw = CELL
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    k = 0
    for y in range(0, height, ch):
        for x in range(0, width, cw):
            im = Image.open(files[k % len(files)]).convert("RGB")
            k += 1
            s = max(ch / im.height, cw / im.width, 1.0)
            if s > 1:
                im = im.resize((round(im.width * s + 0.5), round(im.height * s + 0.5)), Image.LANCZOS)
            a = np.asarray(im)
            i, j = (a.shape[0] - ch) // 2, (a.shape[1] - cw) // 2
            h, w = min(ch, height - y), min(cw, width - x)
            canvas[y : y + h, x : x + w] = a[i : i + h, j : j + w]
    return canvas


def child(step: str, src: str, dst: str, quality: float) -> None:
    import torch

    torch.set_num_threads(2)
    import hific_codec

    t0 = time.perf_counter()
    if step == "encode":
        data = hific_codec.encode(np.load(src), quality)
        Path(dst).write_bytes(data)
    else:
        np.save(dst, hific_codec.decode(Path(src).read_bytes()))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(quality: float, *args: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.large_image", "--quality", str(quality), "--child", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def border_error_ratio(orig: np.ndarray, out: np.ndarray) -> float:
    err = np.abs(orig.astype(np.float32) - out.astype(np.float32)).mean(axis=2)
    H, W = err.shape
    cols = [c for b in range(TILE, W, TILE) for c in (b - 1, b)]
    rows = [r for b in range(TILE, H, TILE) for r in (b - 1, b)]
    border = np.concatenate([err[:, cols].ravel(), err[rows, :].ravel()])
    return float(border.mean() / err.mean())


def tiled_vs_whole(rgb: np.ndarray, quality: float) -> int:
    """Max |pixel difference| between the shipped tiled synthesis and one whole-image g_s pass."""
    from hific_codec import codec

    m = codec.load()
    a = codec.analyse(m, rgb)
    grid = codec.coding_tiles(*rgb.shape[:2])
    z, ys = codec.code(m, a, quality, grid)
    y_hat = codec.decode_latents(m, rgb.shape[0], rgb.shape[1], z, ys, grid)
    tiled = codec.synthesise(m, y_hat, quality, *rgb.shape[:2])
    tile = codec.LATENT_TILE
    codec.LATENT_TILE = 1 << 20  # one tile
    try:
        whole = codec.synthesise(m, y_hat, quality, *rgb.shape[:2])
    finally:
        codec.LATENT_TILE = tile
    return int(np.abs(tiled.astype(int) - whole.astype(int)).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=12000)
    ap.add_argument("--height", type=int, default=9000)
    ap.add_argument("--quality", type=float, default=50.0)
    ap.add_argument("--child", nargs=3, metavar=("STEP", "SRC", "DST"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(*a.child, a.quality)
        return 0
    import hific_codec

    img = mosaic(a.width, a.height)
    with tempfile.TemporaryDirectory() as tmp:
        src, nic, dec = (str(Path(tmp) / n) for n in ("src.npy", "img.nic", "dec.npy"))
        np.save(src, img)
        enc = run_child(a.quality, "encode", src, nic)
        dec_r = run_child(a.quality, "decode", nic, dec)
        data = Path(nic).read_bytes()
        out = np.load(dec)
    info = hific_codec.info(data)
    region = np.ascontiguousarray(img[:2048, :2048])
    result = {
        "size": f"{a.width}x{a.height}", "quality": a.quality, "bytes": len(data), "bpp": len(data) * 8 / img.shape[0] / img.shape[1],
        "psnr_db": metrics.psnr(img, out), "format_version": ".".join(map(str, info.version)),
        "tiles": sum(1 for t, _ in info.chunks if t == "YLAT"),
        "encode_s": enc["seconds"], "decode_s": dec_r["seconds"],
        "encode_peak_rss_mib": enc["peak_rss_mib"], "decode_peak_rss_mib": dec_r["peak_rss_mib"],
        "border_error_ratio": border_error_ratio(img, out),
        "tiled_vs_whole_max_abs_diff_2048px": tiled_vs_whole(region, a.quality),
        "machine": report.machine_summary(2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "large_image.json").write_text(json.dumps(result, indent=1) + "\n")
    # a 256x256 window around a tile corner, shown 2x: left original, right decoded
    c = slice(TILE - 128, TILE + 128)
    pair = np.concatenate([img[c, c], out[c, c]], axis=1)
    Image.fromarray(pair).resize((pair.shape[1] * 2, pair.shape[0] * 2), Image.NEAREST).save(OUT / "seam_crop.png")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
