"""Region of interest and adaptive quantisation against uniform coding, at equal file size (Kodak).

    python -m benchmarks.roi            # every image, the ROI table and figure, the AQ BD-rates
    python -m benchmarks.roi --report   # rebuild the report from the stored points

ROI: each image's region is a centred box covering 20% of it (`box`, fixed); for each quality q
the uniform file sets the size, and the ROI file (inside at q + 30, at most 100; q + 20 or q + 10
where even quality 0 outside cannot pay for that) meets the same size with the outside quality
found by bisection (`encode(bpp=...)`).  PSNR inside and outside
the box for both.  AQ: BD-rates of `encode(aq=True)` against uniform coding over five qualities
(PSNR-RGB and MS-SSIM).  Encode seconds at a fixed quality (uniform vs ROI map) show the map's
overhead.  Points are stored one JSON line each, so a run resumes.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, metrics, report
from .bdrate import bd_rate

OUT = Path(__file__).resolve().parent / "results" / "roi"
ROI_QUALITIES = (20, 40, 60)
ROI_BOOST = 30.0
AQ_QUALITIES = (15, 30, 45, 60, 75)
AREA = 0.2


def box(h: int, w: int) -> tuple[int, int, int, int]:
    """The centred box covering AREA of an h x w image: (x, y, w, h)."""
    s = math.sqrt(AREA)
    bw, bh = round(w * s), round(h * s)
    return (w - bw) // 2, (h - bh) // 2, bw, bh


def _psnr(a: np.ndarray, b: np.ndarray, sel: np.ndarray) -> float:
    mse = np.mean((a[sel].astype(np.float64) - b[sel]) ** 2)
    return float(10 * np.log10(255**2 / mse)) if mse > 0 else math.inf


def roi_point(path: Path, q: float) -> dict:
    import hific_codec

    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    x, y, bw, bh = box(h, w)
    inside = np.zeros((h, w), dtype=bool)
    inside[y : y + bh, x : x + bw] = True
    uni = hific_codec.encode(rgb, q)  # also loads the model: the timings below are warm
    t0 = time.perf_counter()
    hific_codec.encode(rgb, q)
    t1 = time.perf_counter()
    hific_codec.encode(rgb, q, roi=[(x, y, bw, bh)], roi_quality=min(100.0, q + ROI_BOOST))
    t2 = time.perf_counter()
    for boost in (ROI_BOOST, ROI_BOOST * 2 / 3, ROI_BOOST / 3):  # a smaller boost where the outside cannot pay
        inner = min(100.0, q + boost)
        roi = hific_codec.encode(rgb, bpp=len(uni) * 8 / (h * w), roi=[(x, y, bw, bh)], roi_quality=inner)
        if len(roi) <= len(uni):
            break
    du, dr = hific_codec.decode(uni), hific_codec.decode(roi)
    return {"image": path.name, "quality": q, "box": [x, y, bw, bh], "uniform_bytes": len(uni), "roi_bytes": len(roi),
            "roi_outside_quality": hific_codec.info(roi).quality, "roi_quality": inner,
            "uniform_in": _psnr(rgb, du, inside), "uniform_out": _psnr(rgb, du, ~inside),
            "roi_in": _psnr(rgb, dr, inside), "roi_out": _psnr(rgb, dr, ~inside),
            "encode_uniform_s": t1 - t0, "encode_roi_s": t2 - t1,
            "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}


def aq_point(path: Path) -> dict:
    import hific_codec

    rgb = np.asarray(Image.open(path).convert("RGB"))
    px = rgb.shape[0] * rgb.shape[1]
    curves = {}
    for mode in ("uniform", "aq"):
        rows = []
        for q in AQ_QUALITIES:
            data = hific_codec.encode(rgb, q, aq=mode == "aq")
            out = hific_codec.decode(data)
            rows.append((len(data) * 8 / px, metrics.psnr(rgb, out), metrics.ms_ssim_db(metrics.ms_ssim(rgb, out))))
        curves[mode] = rows
    u, a = curves["uniform"], curves["aq"]

    def bd(k):
        return bd_rate([r[0] for r in u], [r[k] for r in u], [r[0] for r in a], [r[k] for r in a])

    return {"image": path.name, "bd_rate_psnr": bd(1), "bd_rate_msssim": bd(2), "curves": curves}


def _stored(name: str) -> dict:
    f = OUT / name
    if not f.exists():
        return {}
    rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return {(r["image"], r.get("quality")): r for r in rows}


def measure(images: list[Path]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    done = _stored("roi.jsonl")
    for p in images:
        for q in ROI_QUALITIES:
            if (p.name, q) not in done:
                r = roi_point(p, q)
                with (OUT / "roi.jsonl").open("a") as f:
                    f.write(json.dumps(r) + "\n")
                print(f"{p.name} q{q}: inside {r['uniform_in']:.2f} -> {r['roi_in']:.2f} dB, outside "
                      f"{r['uniform_out']:.2f} -> {r['roi_out']:.2f} dB", flush=True)
    done = _stored("aq.jsonl")
    for p in images:
        if (p.name, None) not in done:
            r = aq_point(p)
            with (OUT / "aq.jsonl").open("a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"{p.name} aq: PSNR {r['bd_rate_psnr']:+.1f}% MS-SSIM {r['bd_rate_msssim']:+.1f}%", flush=True)


def figure(path: Path, q: float = 20) -> Path:
    """Map, uniform decode and ROI decode (equal size) side by side, cropped around the box."""
    import hific_codec
    from hific_codec import qmap

    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    x, y, bw, bh = box(h, w)
    uni = hific_codec.encode(rgb, q)
    roi = hific_codec.encode(rgb, bpp=len(uni) * 8 / (h * w), roi=[(x, y, bw, bh)], roi_quality=min(100.0, q + ROI_BOOST))
    m = qmap.from_bytes(__import__("bitstream").read(roi).qmap, h, w)
    mimg = np.asarray(Image.fromarray((m / 100 * 255).astype(np.uint8)).resize((w, h), Image.NEAREST).convert("RGB"))
    # around the box's lower-left corner at 1:1: the inside and the outside both show
    r0, c0 = max(0, y + bh - 160), max(0, x - 96)
    tiles = [t[r0 : r0 + 256, c0 : c0 + 256] for t in (mimg, hific_codec.decode(uni), hific_codec.decode(roi))]
    out = OUT / f"roi_{path.stem}.png"
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out, optimize=True)
    return out


def write_report() -> Path:
    roi = list(_stored("roi.jsonl").values())
    aq = list(_stored("aq.jsonl").values())
    lines = ["# Region of interest and adaptive quantisation (Kodak, equal file size)", "",
             (f"Machine: {report.machine(1).get('cpu', '?')}; command: `python -m benchmarks.roi`.  The region is a "
             f"centred box covering {AREA:.0%} of each image; the ROI file codes it at quality q + {ROI_BOOST:g} "
             "and meets the uniform file's size with the outside quality found by bisection (never larger).  "
             "PSNR-RGB inside and outside the box, mean over images."), "",
             ("| q | images | uniform bytes | ROI bytes | inside q | outside q | inside: uniform -> ROI | "
             "outside: uniform -> ROI | encode s uniform / ROI (fixed q) |"), "|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for q in ROI_QUALITIES:
        rs = [r for r in roi if r["quality"] == q]
        if not rs:
            continue

        def mean(k, rs=rs):
            return float(np.mean([r[k] for r in rs]))

        lines.append(f"| {q} | {len(rs)} | {mean('uniform_bytes'):.0f} | {mean('roi_bytes'):.0f} | "
                     f"{mean('roi_quality'):.1f} | {mean('roi_outside_quality'):.1f} | {mean('uniform_in'):.2f} -> {mean('roi_in'):.2f} dB "
                     f"(**{mean('roi_in') - mean('uniform_in'):+.2f}**) | {mean('uniform_out'):.2f} -> "
                     f"{mean('roi_out'):.2f} dB ({mean('roi_out') - mean('uniform_out'):+.2f}) | "
                     f"{mean('encode_uniform_s'):.2f} / {mean('encode_roi_s'):.2f} |")
    if aq:
        lines += ["", (f"Adaptive quantisation (`aq=True`, qualities {', '.join(map(str, AQ_QUALITIES))}): BD-rate "
                  "against uniform coding, negative is fewer bits at equal quality."), "",
                  "| images | PSNR-RGB | MS-SSIM |", "|---:|---:|---:|",
                  (f"| {len(aq)} | {np.mean([r['bd_rate_psnr'] for r in aq]):+.2f}% | "
                  f"{np.mean([r['bd_rate_msssim'] for r in aq]):+.2f}% |")]
    figs = sorted(OUT.glob("roi_*.png"))
    if figs:
        lines += ["", ("Quality map (white: quality 100), uniform decode and ROI decode at equal size (q 20), a "
                  "256x256 crop at 1:1 across the box's lower-left corner:"), ""]
        lines += [f"![{f.stem}]({f.name})" for f in figs]
    (OUT / "REPORT.md").write_text("\n".join(lines) + "\n")
    return OUT / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.roi", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="store_true", help="only rebuild the report")
    ap.add_argument("--limit", type=int, help="the first N images only")
    a = ap.parse_args(argv)
    if not a.report:
        _, images = datasets.resolve("kodak", None)
        images = images[: a.limit] if a.limit else images
        measure(images)
        figure(next(p for p in images if p.stem == "kodim23") if any(p.stem == "kodim23" for p in images) else images[0])
    print(f"report: {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
