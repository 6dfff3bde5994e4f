"""Quality against training compute: one row per shipped model, BD-rates from the Kodak report.

    python -m benchmarks.progress        # after `python -m benchmarks --dataset kodak ...`

Reads ``results/kodak/{nic,bpg,jpeg}.json`` and the zoo entry of the default model, adds (or
replaces) that model's row in ``results/training/bd_vs_hours.json`` and redraws
``bd_vs_hours.png``, so the team sees whether more training or a new architecture pays.
"""
from __future__ import annotations

import json
from pathlib import Path

from .bdrate import bd_rate
from .report import _ms_db

RESULTS = Path(__file__).resolve().parent / "results"
TABLE = RESULTS / "training" / "bd_vs_hours.json"


def row_from_report(kodak: Path = RESULTS / "kodak") -> dict:
    from hific_codec import zoo

    load = lambda n: json.loads((kodak / f"{n}.json").read_text())["results"]
    nic, bpg, jpeg = load("nic"), load("bpg"), load("jpeg")
    e = zoo.get()
    description = json.loads((kodak / "nic.json").read_text())["description"]
    if f"model {e.model_id}, {e.sha256[:8]}" not in description:
        raise SystemExit(f"results/kodak/nic.json is for other weights ({description}); rerun the benchmark")
    ctx = e.context  # a context model trained over frozen weights: its hours count too
    return {
        "model": e.name, "weights": e.sha256[:8], "model_id": e.model_id,
        "train_hours": round(e.total_train_hours, 3), "train_steps": e.train_steps,
        **({"context_hours": ctx["train_hours"], "context_steps": ctx["train_steps"]} if ctx else {}),
        **({"gpu_hours": e.gpu_hours} if e.gpu_hours else {}),  # of train_hours, on an H100
        "bd_vs_bpg_psnr": bd_rate(bpg["bpp"], bpg["psnr-rgb"], nic["bpp"], nic["psnr-rgb"]),
        "bd_vs_bpg_msssim": bd_rate(bpg["bpp"], _ms_db(bpg), nic["bpp"], _ms_db(nic)),
        "bd_vs_jpeg_psnr": bd_rate(jpeg["bpp"], jpeg["psnr-rgb"], nic["bpp"], nic["psnr-rgb"]),
    }


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["train_hours"])
    h = [r["train_hours"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("bd_vs_bpg_psnr", "vs BPG, PSNR"), ("bd_vs_bpg_msssim", "vs BPG, MS-SSIM"),
                       ("bd_vs_jpeg_psnr", "vs JPEG 4:4:4, PSNR")):
        ax.plot(h, [r[key] for r in rows], "o-", label=label)
    for r in rows:  # which model each point is; a context model is an architecture step, not more of the same
        label = f"model {r['model_id']}" + (" (+ context)" if r.get("context_hours") else "")
        below = bool(r.get("gpu_hours"))  # beside a CPU-only point of about the same hours
        if below:  # an accelerator hour is worth many CPU hours: say so on the point
            label = f"model {r['model_id']} ({r['gpu_hours']:.2f} h of it on an H100)"
        ax.annotate(label, (r["train_hours"], r["bd_vs_bpg_psnr"]), textcoords="offset points",
                    xytext=(0, -14 if below else 7), ha="right" if below else "center", fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("training hours (2 CPU cores, except where a point names an H100)")
    ax.set_ylabel("BD-rate on Kodak (%)")
    ax.set_title("NIC fidelity model: BD-rate vs training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> int:
    rows = json.loads(TABLE.read_text()) if TABLE.exists() else []
    new = row_from_report()
    rows = [r for r in rows if r["model_id"] != new["model_id"]] + [new]
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, TABLE.with_suffix(".png"))
    print(json.dumps(new, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
