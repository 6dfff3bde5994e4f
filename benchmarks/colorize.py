"""Colorization (`colorize`) on greyed Kodak, never trained on, against two plain references.

    python -m benchmarks.colorize [--l2 CKPT] [--model CKPT]
    # writes benchmarks/results/plugins/COLORIZE.md, colorize.json, colorize_grid.png

Each Kodak image is made grey by keeping its CIE Lab lightness (a = b = 0), which is what every
method receives.  Compared: the grey image itself; the same network trained with an L2 loss on
ab (``--l2``, the regression reference, not shipped); and the shipped `colorize` (or ``--model``,
a training checkpoint).  PSNR-RGB against the original colour image; colourfulness (Hasler &
Süsstrunk 2003) against the originals'; FID and KID against the originals on the realism
report's patches with EfficientNet-Lite1 features (no model here is trained against any feature
network), with 90% intervals on the change against the grey input from a paired bootstrap over
images.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets, fid, metrics, report
from .enhance import _grid

OUT = Path(__file__).resolve().parent / "results" / "plugins"
GRID_IMAGES = ("kodim03", "kodim14", "kodim23")
L2_RUN = "runs/colorize-l2/last.safetensors"  # python -m hific_codec.train.colorize --regression


def grey(img: np.ndarray) -> np.ndarray:
    """The image's CIE Lab lightness rendered as RGB (a = b = 0)."""
    import torch

    from hific_codec.models.colorize import lab_to_rgb, rgb_to_lab

    lab = rgb_to_lab(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255)
    lab[:, 1:] = 0
    return lab_to_rgb(lab)[0].mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


def _from_checkpoint(path: str):
    from hific_codec.models.colorize import colorize
    from hific_codec.train.colorize import load_checkpoint

    net, meta = load_checkpoint(path)
    net.eval().requires_grad_(False)
    info = {"train_steps": meta["step"], "train_hours": round(meta["seconds"] / 3600, 3), "source": path}
    return (lambda img: colorize(net, img)), info


def main(argv: list[str] | None = None) -> int:
    import torch

    from hific_codec import plugins, zoo
    from hific_codec.train.colorize import colourfulness

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--l2", default=L2_RUN if Path(L2_RUN).exists() else None,
                    help=f"checkpoint of the L2 regression reference (default {L2_RUN}, where it was trained)")
    ap.add_argument("--model", help="a colorize training checkpoint instead of the shipped weights")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="first N Kodak images (a quick check)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    _, files = datasets.resolve("kodak")
    files = files[: a.limit]
    methods, info = {"grey": lambda img: img}, {}
    if a.l2:
        methods["L2 regression"], info["L2 regression"] = _from_checkpoint(a.l2)
    if a.model:
        methods["colorize"], info["colorize"] = _from_checkpoint(a.model)
    else:
        p = plugins.create("colorize")
        p.ensure_loaded()
        e = zoo.get("colorize")
        methods["colorize"] = p
        info["colorize"] = {"train_steps": e.train_steps, "train_hours": e.train_hours, "sha256": e.sha256[:8],
                            "bytes": (zoo.WEIGHTS_DIR / e.file).stat().st_size}
    net = fid.EfficientNetLite1()
    ref_f, feats = [], {m: [] for m in methods}
    rows = {m: {"psnr": [], "colourfulness": []} for m in methods}
    true_colour, seconds, grid = [], {m: [] for m in methods}, []
    for k, path in enumerate(files):
        img = np.asarray(Image.open(path).convert("RGB"))
        g = grey(img)
        ref_f.append(net(fid.patches(img)))
        true_colour.append(colourfulness(img))
        outs = {}
        for m, f in methods.items():
            t0 = time.perf_counter()
            outs[m] = f(g)
            seconds[m].append(time.perf_counter() - t0)
            rows[m]["psnr"].append(metrics.psnr(outs[m], img))
            rows[m]["colourfulness"].append(colourfulness(outs[m]))
            feats[m].append(net(fid.patches(outs[m])))
        if path.stem in GRID_IMAGES:
            grid.append([img, *outs.values()])
        print(f"{k + 1}/{len(files)} {path.name} " + " ".join(f"{m}: {rows[m]['psnr'][-1]:.2f} dB" for m in methods),
              flush=True)
    ref = np.concatenate(ref_f)
    res = {"images": len(files), "features": net.label, "machine": report.machine_summary(a.threads),
           "patches_per_set": len(ref), "colourfulness_original": float(np.mean(true_colour)), "models": info,
           "methods": {}}
    for m in methods:
        f = np.concatenate(feats[m])
        e = {"psnr": float(np.mean(rows[m]["psnr"])), "colourfulness": float(np.mean(rows[m]["colourfulness"])),
             "fid": fid.fid_small(ref, f), "kid": fid.kid(ref, f), "seconds_per_image": float(np.median(seconds[m]))}
        if m != "grey":
            groups = [ref_f, feats["grey"], feats[m]]
            e["fid_change_90"] = fid.bootstrap(lambda r_, x, y: fid.fid_small(r_, y) - fid.fid_small(r_, x), groups)
            e["kid_change_90"] = fid.bootstrap(lambda r_, x, y: fid.kid(r_, y, subsets=10) - fid.kid(r_, x, subsets=10),
                                               groups)
            if "L2 regression" in methods and m != "L2 regression":
                groups = [ref_f, feats["L2 regression"], feats[m]]
                e["fid_vs_l2_90"] = fid.bootstrap(lambda r_, x, y: fid.fid_small(r_, y) - fid.fid_small(r_, x), groups)
        res["methods"][m] = e
    OUT.mkdir(parents=True, exist_ok=True)
    if grid:
        _grid(grid, ["original", *methods], OUT / "colorize_grid.png")
    (OUT / "colorize.json").write_text(json.dumps(res, indent=1))
    (OUT / "COLORIZE.md").write_text(render(res))
    print(f"report: {OUT / 'COLORIZE.md'}")
    return 0


def render(res: dict) -> str:
    md = ["# Colorization (`colorize`)", "",
          (f"Kodak, {res['images']} images made grey (CIE Lab lightness, never trained on); machine: {res['machine']}.  "
           f"FID/KID against the colour originals: {res['features']}, {res['patches_per_set']} patches per set; Δ: "
           "the method minus the grey input, with a 90% interval from a paired bootstrap over images.  Colourfulness: "
           f"Hasler & Süsstrunk M (the originals: {res['colourfulness_original']:.1f})."), "",
          "| method | PSNR-RGB | colourfulness | FID | ΔFID [90%] | KID×1000 | ΔKID×1000 [90%] | s / image |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, e in res["methods"].items():
        d = (f"{e['fid'] - res['methods']['grey']['fid']:+.1f} [{e['fid_change_90'][0]:+.1f}, "
             f"{e['fid_change_90'][1]:+.1f}]") if "fid_change_90" in e else ""
        k = (f"{1000 * (e['kid'] - res['methods']['grey']['kid']):+.1f} [{1000 * e['kid_change_90'][0]:+.1f}, "
             f"{1000 * e['kid_change_90'][1]:+.1f}]") if "kid_change_90" in e else ""
        md.append(f"| {m} | {e['psnr']:.2f} | {e['colourfulness']:.1f} | {e['fid']:.1f} | {d} | "
                  f"{1000 * e['kid']:.1f} | {k} | {e['seconds_per_image']:.2f} |")
    for m, e in res["methods"].items():
        if "fid_vs_l2_90" in e:
            lo, hi = e["fid_vs_l2_90"]
            md += ["", (f"`{m}` minus the L2 reference, FID: {e['fid'] - res['methods']['L2 regression']['fid']:+.1f} "
                        f"[{lo:+.1f}, {hi:+.1f}].")]
    md += ["", "Models: " + "; ".join(f"{m}: {v['train_steps']} steps, {v['train_hours']} h on one CPU core"
                                      + (f", {v['bytes'] / 1e3:.0f} KB" if "bytes" in v else "")
                                      for m, v in res["models"].items()) + ".",
           "", "![grid](colorize_grid.png)", "",
           f"Rows: {', '.join(GRID_IMAGES)} (a 192x192 crop at 2x).  Columns: original, then each method.", ""]
    return "\n".join(md)


if __name__ == "__main__":
    raise SystemExit(main())
