"""Overfitted coding (encoder effort 3-5) against BPG 4:4:4 on whole Kodak images, side by side.

    python -m benchmarks.overfit --efforts 3 --images kodim01,kodim05 [--threads 2]
    python -m benchmarks.overfit --report          # summary from the points measured so far

Each point (image, effort, quality) is one JSON file under results/overfit/points/, written when
it is measured and committed, so the curve is built up over several runs; BPG's points for the
same image are measured in the same run (encode and decode seconds side by side).  The report
gives per-image BD-rates against BPG (PSNR-RGB and MS-SSIM, Bjøntegaard with PCHIP), the mean
encode seconds per effort, and decode seconds as a ratio to BPG's on the same images.
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

OUT = Path(__file__).resolve().parent / "results" / "overfit"
QUALITIES = (20, 40, 60, 80)
BPG_Q = (24, 28, 32, 36, 40, 44, 47)


def _point(path: Path, codec: str, q, effort: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    extra = {}
    if codec == "bpg":
        from .codecs.bpg import BpgCodec

        c = BpgCodec("bpg", "", BPG_Q)
        c.check()
        t0 = time.perf_counter()
        data = c.encode(rgb, q)
        t1 = time.perf_counter()
        out = c.decode(data)
    else:
        import hific_codec

        t0 = time.perf_counter()
        data = hific_codec.encode(rgb, float(q), effort=effort)
        t1 = time.perf_counter()
        out = hific_codec.decode(data)
        i = hific_codec.info(data)
        extra = {"weight_bytes": i.weight_bytes, "macs_per_pixel": i.macs_per_pixel, "mode": i.mode}
    t2 = time.perf_counter()
    ms = metrics.ms_ssim(rgb, out)
    return {"image": path.name, "codec": codec, "effort": effort, "quality": q, "bytes": len(data),
            "bpp": len(data) * 8 / (h * w), "psnr-rgb": metrics.psnr(rgb, out), "ms-ssim": ms,
            "ms-ssim-db": metrics.ms_ssim_db(ms), "encode_s": t1 - t0, "decode_s": t2 - t1, "threads": threads,
            "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), **extra}


def _file(image: str, codec: str, effort: int, q) -> Path:
    return OUT / "points" / f"{Path(image).stem}-{codec}-e{effort}-q{q}.json"


def measure(images: list[Path], efforts: list[int], threads: int, qualities=QUALITIES) -> None:
    (OUT / "points").mkdir(parents=True, exist_ok=True)
    for p in images:
        jobs = [("bpg", q, 0) for q in BPG_Q] + [("overfit", q, e) for e in efforts for q in qualities]
        for codec, q, e in jobs:
            f = _file(p.name, codec, e, q)
            if f.exists():
                continue
            row = _point(p, codec, q, e, threads)
            f.write_text(json.dumps(row, indent=1) + "\n")
            print(f"{p.name} {codec} e{e} q{q}: {row['bpp']:.4f} bpp {row['psnr-rgb']:.2f} dB "
                  f"enc {row['encode_s']:.1f} s dec {row['decode_s']:.2f} s", flush=True)


def summarise() -> dict:
    rows = [json.loads(f.read_text()) for f in sorted((OUT / "points").glob("*.json"))]
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["image"], r["codec"], r["effort"]), []).append(r)
    out = {"machine": report.machine(1), "efforts": {}}
    for (image, codec, e), rs in sorted(by.items()):
        if codec == "bpg" or len(rs) < 2:
            continue
        bpg = by.get((image, "bpg", 0), [])
        entry = {
            "points": len(rs),
            **_bd(bpg, rs),
            "encode_s": float(np.mean([x["encode_s"] for x in rs])),
            "decode_s": float(np.mean([x["decode_s"] for x in rs])),
            "bpg_decode_s": float(np.mean([x["decode_s"] for x in bpg])) if bpg else math.nan,
            "weight_bytes": float(np.mean([x["weight_bytes"] for x in rs])),
            "threads": rs[0]["threads"],
        }
        out["efforts"].setdefault(str(e), {})[image] = entry
    for e, imgs in out["efforts"].items():
        vals = list(imgs.values())
        out["efforts"][e] = {"images": imgs, "mean": {k: float(np.nanmean([v[k] for v in vals]))
                                                     for k in ("bd_rate_psnr", "bd_rate_msssim", "encode_s",
                                                               "decode_s", "bpg_decode_s", "weight_bytes")}}
    return out


def _bd(anchor: list[dict], test: list[dict]) -> dict:
    """BD-rates of ``test`` against ``anchor`` (rows with bpp, psnr-rgb and ms-ssim-db)."""
    def curve(rows, key):
        return [r["bpp"] for r in rows], [r[key] for r in rows]

    return {"bd_rate_psnr": bd_rate(*curve(anchor, "psnr-rgb"), *curve(test, "psnr-rgb")),
            "bd_rate_msssim": bd_rate(*curve(anchor, "ms-ssim-db"), *curve(test, "ms-ssim-db"))}


KODAK_ROWS = Path(__file__).resolve().parent / "results" / "kodak" / "per_image.csv"
EARLIER = {"0": "nic", "1": "nic-e1"}  # the hyperprior's levels, as the Kodak report measured them


def earlier_levels(images: list[str]) -> dict:
    """BD-rate against BPG of efforts 0 and 1 on the same images, from the Kodak report's rows."""
    import csv

    if not KODAK_ROWS.exists():
        return {}
    rows = list(csv.DictReader(KODAK_ROWS.open()))
    out = {}
    for effort, codec in EARLIER.items():
        per = {}
        for img in images:
            def pts(c, img=img):
                return [{k: float(r[k]) for k in ("bpp", "psnr-rgb", "ms-ssim-db", "encoding_time")}
                        for r in rows if r["codec"] == c and r["image"] == img]
            a, t = pts("bpg"), pts(codec)
            if len(a) >= 2 and len(t) >= 2:
                per[img] = {**_bd(a, t), "encode_s": float(np.mean([x["encoding_time"] for x in t]))}
        if per:
            out[effort] = {"images": per, "mean": {k: float(np.nanmean([v[k] for v in per.values()]))
                                                   for k in ("bd_rate_psnr", "bd_rate_msssim", "encode_s")}}
    return out


def write_report() -> Path:
    s = summarise()
    images = sorted({img for d in s["efforts"].values() for img in d["images"]})
    s["earlier"] = earlier_levels(images)
    (OUT / "overfit.json").write_text(json.dumps(s, indent=1) + "\n")
    lines = ["# Overfitted coding against BPG 4:4:4 (Kodak, whole images)", "",
             f"Machine: {s['machine'].get('cpu', '?')}; command: `python -m benchmarks.overfit`.  Real file "
             "sizes; BD-rate (PCHIP) of each image's curve against BPG's measured in the same run; negative "
             "is fewer bits than BPG.  Encode seconds are per point as measured; some points shared the cores "
             "with other jobs (each point's JSON has its time of day), so the shortest ones are the idle-machine "
             "figures.  A BD-rate over 2 points covers only their quality range.", "",
             "| effort | image | points | BD-rate PSNR | BD-rate MS-SSIM | encode s | decode s | BPG decode s | "
             "weights B | threads |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e, d in s["efforts"].items():
        for img, v in d["images"].items():
            lines.append(f"| {e} | {img} | {v['points']} | {v['bd_rate_psnr']:+.1f}% | {v['bd_rate_msssim']:+.1f}% | "
                         f"{v['encode_s']:.0f} | {v['decode_s']:.2f} | {v['bpg_decode_s']:.3f} | "
                         f"{v['weight_bytes']:.0f} | {v['threads']} |")
        m = d["mean"]
        lines.append(f"| {e} | **mean of {len(d['images'])}** | | **{m['bd_rate_psnr']:+.1f}%** | "
                     f"**{m['bd_rate_msssim']:+.1f}%** | {m['encode_s']:.0f} | {m['decode_s']:.2f} | "
                     f"{m['bpg_decode_s']:.3f} | {m['weight_bytes']:.0f} | |")
    if s["earlier"]:
        lines += ["", "The hyperprior's levels on the same images, from the Kodak report's rows "
                  "(`benchmarks/results/kodak/per_image.csv`; encode seconds there are one-thread workers):", "",
                  "| effort | BD-rate PSNR | BD-rate MS-SSIM | encode s | per image (PSNR) |", "|---|---:|---:|---:|---|"]
        for e, d in s["earlier"].items():
            m = d["mean"]
            per = ", ".join(f"{img} {v['bd_rate_psnr']:+.1f}%" for img, v in d["images"].items())
            lines.append(f"| {e} | {m['bd_rate_psnr']:+.1f}% | {m['bd_rate_msssim']:+.1f}% | {m['encode_s']:.1f} | {per} |")
    (OUT / "REPORT.md").write_text("\n".join(lines) + "\n")
    return OUT / "REPORT.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.overfit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--efforts", default="3", help="comma-separated effort levels (3, 4, 5)")
    ap.add_argument("--images", default="kodim01,kodim05,kodim14,kodim23", help="Kodak image stems")
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", action="store_true", help="only rebuild the report from the stored points")
    a = ap.parse_args(argv)
    if not a.report:
        _, images = datasets.resolve("kodak", None)
        want = [s.strip() for s in a.images.split(",")]
        chosen = [p for w in want for p in images if p.stem == w]
        measure(chosen, [int(e) for e in a.efforts.split(",")], a.threads,
                tuple(int(q) for q in a.qualities.split(",")))
    print(f"report: {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
