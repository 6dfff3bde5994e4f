"""Translation plugins on the CMP facades test split (106 pairs, never trained on).

    python -m benchmarks.translate      # writes benchmarks/results/plugins/TRANSLATE.md, translate.json, translate_grid.png

Both families, pix2pix (paired training) and CycleGAN (unpaired), where installed.
photo->labels: per-pixel class accuracy, every pixel of output and ground truth mapped to the
nearest of the 12 palette colours (the palette saved with the weights), and mean IoU over
classes; baseline: every pixel labelled with the most frequent class.  labels->photo: mean L1
(0..1 pixels), PSNR and FID/KID on the 256x256 outputs against the test photos, with ImageNet
EfficientNet-Lite0 features (not Inception FID; 106 samples, so FID is biased upwards and KID is
the steadier number).  Each plugin is run as a user runs it, on the 256x256 halves.
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


FAMILIES = {"pix2pix": ("translate:facades-photo2labels", "translate:facades-labels2photo"),
            "CycleGAN": ("cycle:photo2labels", "cycle:labels2photo")}


def evaluate(p2l, l2p, pal: np.ndarray, pairs, net) -> tuple[dict, list[np.ndarray]]:
    """Both directions of one family against the test pairs: (metrics, grid rows)."""
    from hific_codec.models.pix2pix import classify

    acc, base, inter, union, l1s, fakes, reals, rows = [], [], np.zeros(len(pal)), np.zeros(len(pal)), [], [], [], []
    t_l2p = t_p2l = 0.0
    for k, (photo, labels) in enumerate(pairs):
        t0 = time.perf_counter()
        gen_labels = p2l(photo)
        t1 = time.perf_counter()
        gen_photo = l2p(labels)
        t_p2l, t_l2p = t_p2l + t1 - t0, t_l2p + time.perf_counter() - t1
        gt, pr = classify(labels, pal), classify(gen_labels, pal)
        acc.append((gt == pr).mean())
        base.append((gt == np.bincount(gt.ravel(), minlength=len(pal)).argmax()).mean())
        for c in range(len(pal)):
            inter[c] += ((gt == c) & (pr == c)).sum()
            union[c] += ((gt == c) | (pr == c)).sum()
        l1s.append(np.abs(gen_photo.astype(np.float64) - photo).mean() / 255)
        fakes.append(gen_photo)
        reals.append(photo)
        if k < 4:
            rows.append([gen_photo, gen_labels])
    ff, fr = net(np.stack(fakes)), net(np.stack(reals))
    present = union > 0
    psnr = float(np.mean([metrics.psnr(f, r) for f, r in zip(fakes, reals)]))
    return {"photo2labels": {"pixel_accuracy": float(np.mean(acc)), "majority_class_accuracy": float(np.mean(base)),
                             "mean_iou": float((inter[present] / union[present]).mean()),
                             "seconds_per_image": t_p2l / len(pairs)},
            "labels2photo": {"l1": float(np.mean(l1s)), "psnr": psnr, "fid": fid.fid(fr, ff),
                             "kid": fid.kid(fr, ff, subset_size=50), "seconds_per_image": t_l2p / len(pairs)}}, rows


def main(argv: list[str] | None = None) -> int:
    import torch

    from hific_codec import plugins, zoo
    from hific_codec.train.pix2pix import load_pairs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    pairs = load_pairs(datasets.data_root() / "facades" / "test")
    # one palette scores every family: pix2pix's (both palettes are k-means of the same training label maps)
    pal = np.array(zoo.get("facades-photo2labels").config["palette"], np.uint8)
    net = fid.feature_net()
    res = {"pairs": len(pairs), "features": net.label, "machine": report.machine_summary(a.threads), "families": {},
           "weights": {}}
    grid = [[labels, photo] for photo, labels in pairs[:4]]
    for family, specs in FAMILIES.items():
        ps = [plugins.create(s) for s in specs]
        if any(p.weight_name not in zoo.entries() for p in ps):
            continue
        res["families"][family], rows = evaluate(*ps, pal, pairs, net)
        for g, r in zip(grid, rows):
            g.extend(r)
        for p in ps:
            e = zoo.get(p.weight_name)
            res["weights"][p.weight_name] = {"sha256": e.sha256[:8], "train_hours": e.train_hours,
                                             "train_steps": e.train_steps, "size": p.size}
    OUT.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([np.concatenate(g, axis=1) for g in grid], axis=0)).save(OUT / "translate_grid.png")
    (OUT / "translate.json").write_text(json.dumps(res, indent=1))
    (OUT / "TRANSLATE.md").write_text(render(res))
    print(f"report: {OUT / 'TRANSLATE.md'}")
    return 0


def render(res: dict) -> str:
    fams = list(res["families"])
    rows = [("photo -> labels", "per-pixel class accuracy", lambda f: f"{f['photo2labels']['pixel_accuracy']:.3f}"),
            ("photo -> labels", "mean IoU (12 classes)", lambda f: f"{f['photo2labels']['mean_iou']:.3f}"),
            ("photo -> labels", "baseline: most frequent class",
             lambda f: f"{f['photo2labels']['majority_class_accuracy']:.3f}"),
            ("labels -> photo", "L1 (0..1)", lambda f: f"{f['labels2photo']['l1']:.4f}"),
            ("labels -> photo", "PSNR-RGB", lambda f: f"{f['labels2photo']['psnr']:.2f} dB"),
            ("labels -> photo", f"FID ({res['features'].split(',')[0]})", lambda f: f"{f['labels2photo']['fid']:.1f}"),
            ("labels -> photo", "KID x1000", lambda f: f"{1000 * f['labels2photo']['kid']:.1f}"),
            ("both", "seconds per 256x256 image", lambda f: f"{f['photo2labels']['seconds_per_image']:.3f} / "
                                                            f"{f['labels2photo']['seconds_per_image']:.3f}")]
    md = ["# Translation plugins (`translate:facades-*` pix2pix, `cycle:*` CycleGAN)", "",
          (f"CMP facades test split, {res['pairs']} pairs; machine: {res['machine']}.  pix2pix is trained on the "
           "training pairs; CycleGAN on the same photos and label maps drawn independently, never paired; both are "
           "scored against the test pairs (Zhu et al.'s comparison).  Weights: "
           + "; ".join(f"`{n}` {v['sha256']} ({v['train_steps']} steps, {v['train_hours']} h on one CPU core, works "
                       f"at {v['size']}x{v['size']})" for n, v in res["weights"].items()) + "."),
          "", "| direction | metric | " + " | ".join(fams) + " |", "|---|---|" + "---:|" * len(fams)]
    md += [f"| {d} | {m} | " + " | ".join(get(res["families"][f]) for f in fams) + " |" for d, m, get in rows]
    md += ["", "![grid](translate_grid.png)", "",
           "Columns: label map, photo, then for " + " and ".join(fams) + ": labels->photo, photo->labels.", ""]
    return "\n".join(md)


if __name__ == "__main__":
    raise SystemExit(main())
