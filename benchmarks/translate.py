"""Translation plugins on the CMP facades test split (106 pairs, never trained on).

    python -m benchmarks.translate      # writes benchmarks/results/plugins/TRANSLATE.md, translate.json, translate_grid.png

photo->labels: per-pixel class accuracy, every pixel of output and ground truth mapped to the
nearest of the 12 palette colours (the palette saved with the weights), and mean IoU over
classes; baseline: every pixel labelled with the most frequent class.  labels->photo: mean L1
(0..1 pixels) and FID/KID on the 256x256 outputs against the test photos, with ImageNet
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

from . import datasets, fid, report

OUT = Path(__file__).resolve().parent / "results" / "plugins"


def main(argv: list[str] | None = None) -> int:
    import torch

    from hific_codec import plugins, zoo
    from hific_codec.models.pix2pix import classify
    from hific_codec.train.pix2pix import load_pairs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    pairs = load_pairs(datasets.data_root() / "facades" / "test")
    l2p, p2l = plugins.create("translate:facades-labels2photo"), plugins.create("translate:facades-photo2labels")
    pal = np.array(zoo.get("facades-photo2labels").config["palette"], np.uint8)
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
            rows.append(np.concatenate([labels, photo, gen_photo, gen_labels], axis=1))
    net = fid.feature_net()
    ff, fr = net(np.stack(fakes)), net(np.stack(reals))
    present = union > 0
    res = {
        "pairs": len(pairs), "photo2labels": {"pixel_accuracy": float(np.mean(acc)),
                                              "majority_class_accuracy": float(np.mean(base)),
                                              "mean_iou": float((inter[present] / union[present]).mean()),
                                              "seconds_per_image": t_p2l / len(pairs)},
        "labels2photo": {"l1": float(np.mean(l1s)), "fid": fid.fid(fr, ff), "kid": fid.kid(fr, ff, subset_size=50),
                         "seconds_per_image": t_l2p / len(pairs)},
        "features": net.label, "machine": report.machine_summary(a.threads),
        "weights": {n: {"sha256": zoo.get(n).sha256[:8], "train_hours": zoo.get(n).train_hours,
                        "train_steps": zoo.get(n).train_steps} for n in ("facades-labels2photo", "facades-photo2labels")},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(OUT / "translate_grid.png")
    (OUT / "translate.json").write_text(json.dumps(res, indent=1))
    p, q = res["photo2labels"], res["labels2photo"]
    w = res["weights"]
    md = ["# Translation plugins (`translate:facades-*`, pix2pix)", "",
          f"CMP facades test split, {res['pairs']} pairs; machine: {res['machine']}.  Weights: "
          + "; ".join(f"`{n}` {v['sha256']} ({v['train_steps']} steps, {v['train_hours']} h CPU)" for n, v in w.items()) + ".",
          "", "| direction | metric | value |", "|---|---|---:|",
          f"| photo -> labels | per-pixel class accuracy | {p['pixel_accuracy']:.3f} |",
          f"| photo -> labels | mean IoU (12 classes) | {p['mean_iou']:.3f} |",
          f"| photo -> labels | baseline: most frequent class | {p['majority_class_accuracy']:.3f} |",
          f"| labels -> photo | L1 (0..1) | {q['l1']:.4f} |",
          f"| labels -> photo | FID ({res['features'].split(',')[0]}) | {q['fid']:.1f} |",
          f"| labels -> photo | KID x1000 | {1000 * q['kid']:.1f} |",
          f"| both | seconds per 256x256 image | {p['seconds_per_image']:.3f} / {q['seconds_per_image']:.3f} |", "",
          "![grid](translate_grid.png)", "", "Columns: label map, photo, labels->photo, photo->labels.", ""]
    (OUT / "TRANSLATE.md").write_text("\n".join(md))
    print(f"report: {OUT / 'TRANSLATE.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
