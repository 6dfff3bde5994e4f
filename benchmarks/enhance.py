"""Compression-artifact removal (`enhance`, `enhance:gan`) on Kodak, never trained on.

    python -m benchmarks.enhance      # writes benchmarks/results/plugins/ENHANCE.md, enhance.json, enhance_grid.png

Each Kodak image is compressed as users meet it: a baseline JPEG (Pillow's libjpeg, 4:2:0) at
quality 10, 20, 30, and NIC at quality 0, 10, 20, 30 (effort 0, fidelity decoder); the plugins
run on the decoded image as `nic enhance` runs them.  PSNR-RGB and MS-SSIM against the original,
before and after, averaged per image.  FID and KID against the originals on the realism report's
patches (256x256, two grids: 8 per image, 192 per set) with EfficientNet-Lite1 features, a network
that no model's loss uses (`enhance:gan` is trained against Lite0).  With 192 patches FID is
biased upwards; the FID and KID changes (plugin output minus its input) carry 90% intervals from a
paired bootstrap over images, so a reader can see whether a change is real.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, fid, metrics, report

OUT = Path(__file__).resolve().parent / "results" / "plugins"
SETTINGS = (("jpeg", 10), ("jpeg", 20), ("jpeg", 30), ("nic", 0), ("nic", 10), ("nic", 20), ("nic", 30))
VARIANTS = (("enhance", "enhance"), ("enhance:gan", "enhance-gan"))  # (plugin spec, weights)


def compress(img: np.ndarray, codec: str, quality: int) -> tuple[np.ndarray, int]:
    """(decoded image, bytes of the compressed file)."""
    import hific_codec
    from hific_codec.train.enhance import jpeg

    if codec == "jpeg":
        return jpeg(img, quality)

    data = hific_codec.encode(img, quality=quality)
    return hific_codec.decode(data), len(data)


def main(argv: list[str] | None = None) -> int:
    import torch

    from hific_codec import plugins, zoo

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="first N Kodak images (a quick check)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    _, files = datasets.resolve("kodak")
    files = files[: a.limit]
    have = [(spec, w) for spec, w in VARIANTS if w in zoo.entries()]
    if not have:
        raise SystemExit("no enhance weights installed")
    plug = {spec: plugins.create(spec) for spec, _ in have}
    net = fid.EfficientNetLite1()
    ref_f: list[np.ndarray] = []
    rows: dict[str, dict[str, list]] = {f"{c}{q}": {} for c, q in SETTINGS}
    feats: dict[str, dict[str, list]] = {f"{c}{q}": {} for c, q in SETTINGS}
    seconds: dict[str, list[float]] = {spec: [] for spec, _ in have}
    grid = []
    for k, path in enumerate(files):
        img = np.asarray(Image.open(path).convert("RGB"))
        ref_f.append(net(fid.patches(img)))
        for codec, q in SETTINGS:
            key = f"{codec}{q}"
            dec, nbytes = compress(img, codec, q)
            outs = {"input": dec}
            for spec, _ in have:
                t0 = time.perf_counter()
                outs[spec] = plug[spec](dec)
                seconds[spec].append(time.perf_counter() - t0)
            rows[key].setdefault("bpp", []).append(8 * nbytes / (img.shape[0] * img.shape[1]))
            for name, o in outs.items():
                r = rows[key].setdefault(name, {"psnr": [], "ms_ssim": []})
                r["psnr"].append(metrics.psnr(o, img))
                r["ms_ssim"].append(metrics.ms_ssim(o, img))
                feats[key].setdefault(name, []).append(net(fid.patches(o)))
            if path.stem == "kodim23" and key in ("jpeg10", "nic0"):
                grid.append([img, *outs.values()])
        print(f"{k + 1}/{len(files)} {path.name}", flush=True)
    res = {"images": len(files), "features": net.label, "machine": report.machine_summary(a.threads),
           "patches_per_set": int(sum(len(f) for f in ref_f)), "settings": {},
           "seconds_per_image": {spec: float(np.median(s)) for spec, s in seconds.items()},
           "image_size": "768x512 (Kodak)",
           "weights": {w: {"sha256": zoo.get(w).sha256[:8], "train_hours": zoo.get(w).train_hours,
                           "train_steps": zoo.get(w).train_steps,
                           "bytes": (zoo.WEIGHTS_DIR / zoo.get(w).file).stat().st_size} for _, w in have}}
    ref = np.concatenate(ref_f)
    for key, r in rows.items():
        entry = {"bpp": float(np.mean(r["bpp"]))}
        for name in ["input", *plug]:
            f = np.concatenate(feats[key][name])
            entry[name] = {"psnr": float(np.mean(r[name]["psnr"])), "ms_ssim": float(np.mean(r[name]["ms_ssim"])),
                           "fid": fid.fid_small(ref, f), "kid": fid.kid(ref, f)}
            if name != "input":
                groups = [ref_f, feats[key]["input"], feats[key][name]]
                entry[name]["fid_change_90"] = fid.bootstrap(lambda r_, x, y: fid.fid_small(r_, y) - fid.fid_small(r_, x),
                                                             groups)
                entry[name]["kid_change_90"] = fid.bootstrap(
                    lambda r_, x, y: fid.kid(r_, y, subsets=10) - fid.kid(r_, x, subsets=10), groups)
        res["settings"][key] = entry
    OUT.mkdir(parents=True, exist_ok=True)
    if grid:
        _grid(grid, ["original", "compressed", *plug], OUT / "enhance_grid.png")
    (OUT / "enhance.json").write_text(json.dumps(res, indent=1))
    (OUT / "ENHANCE.md").write_text(render(res))
    print(f"report: {OUT / 'ENHANCE.md'}")
    return 0


def _grid(rows: list[list[np.ndarray]], names: list[str], path: Path) -> None:
    """A 192x192 crop of each image at 2x (nearest), one row per setting, labelled on top."""
    from PIL import ImageDraw

    i, j, s = 60, 300, 192
    tiles = [[np.asarray(Image.fromarray(x[i : i + s, j : j + s]).resize((2 * s, 2 * s), Image.NEAREST)) for x in r]
             for r in rows]
    canvas = np.full((18 + len(rows) * 2 * s, len(names) * 2 * s, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, t in enumerate(row):
            canvas[18 + r * 2 * s : 18 + (r + 1) * 2 * s, c * 2 * s : (c + 1) * 2 * s] = t
    im = Image.fromarray(canvas)
    d = ImageDraw.Draw(im)
    for c, n in enumerate(names):
        d.text((c * 2 * s + 6, 3), n, fill=(0, 0, 0))
    im.save(path)


def render(res: dict) -> str:
    names = [n for n in next(iter(res["settings"].values())) if n not in ("bpp", "input")]
    md = ["# Artifact removal (`enhance`, `enhance:gan`)", "",
          (f"Kodak, {res['images']} images (never trained on); machine: {res['machine']}.  "
           f"FID/KID: {res['features']}, {res['patches_per_set']} patches per set; Δ: plugin output minus its "
           "input, with a 90% interval from a paired bootstrap over images (negative = closer to the originals)."),
          "", "Weights: " + "; ".join(f"`{w}` {v['sha256']} ({v['train_steps']} steps, {v['train_hours']} h on "
                                      f"one CPU core, {v['bytes'] / 1e3:.0f} KB)" for w, v in res["weights"].items())
          + ".  Seconds per 768x512 image (median): "
          + ", ".join(f"`{s}` {t:.2f}" for s, t in res["seconds_per_image"].items()) + ".", "",
          "| input | bpp | PSNR in | " + " | ".join(f"{n} ΔPSNR | {n} ΔMS-SSIM" for n in names)
          + " | FID in | " + " | ".join(f"{n} ΔFID [90%]" for n in names) + " | KID×1000 in | "
          + " | ".join(f"{n} ΔKID×1000 [90%]" for n in names) + " |",
          "|---|" + "---:|" * (4 + 4 * len(names))]
    for key, e in res["settings"].items():
        i = e["input"]
        label = f"JPEG q{key[4:]}" if key.startswith("jpeg") else f"NIC q{key[3:]}"
        cells = [label, f"{e['bpp']:.3f}", f"{i['psnr']:.2f}"]
        cells += [f"{e[n]['psnr'] - i['psnr']:+.2f} dB | {e[n]['ms_ssim'] - i['ms_ssim']:+.4f}" for n in names]
        cells += [f"{i['fid']:.1f}"] + [f"{e[n]['fid'] - i['fid']:+.1f} [{e[n]['fid_change_90'][0]:+.1f}, "
                                        f"{e[n]['fid_change_90'][1]:+.1f}]" for n in names] + [f"{1000 * i['kid']:.1f}"]
        cells += [f"{1000 * (e[n]['kid'] - i['kid']):+.1f} [{1000 * e[n]['kid_change_90'][0]:+.1f}, "
                  f"{1000 * e[n]['kid_change_90'][1]:+.1f}]" for n in names]
        md.append("| " + " | ".join(cells) + " |")
    md += ["", "![grid](enhance_grid.png)", "",
           "Rows: JPEG q10, NIC q0 (kodim23, a 192x192 crop at 2x).  Columns: original, compressed, then each plugin.", ""]
    return "\n".join(md)


if __name__ == "__main__":
    raise SystemExit(main())
