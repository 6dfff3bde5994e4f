"""Export a training checkpoint to shipped weights: fp16 tensors + baked entropy tables, safetensors.

    python -m hific_codec.train.export runs/fidelity/last.safetensors --name hyperprior-vr \
        --retire-as hyperprior-vr-1

``--retire-as`` keeps the weights the name pointed to under another name (and their model id), so
files written with them still decode; the new weights get the next free model id.  Without it,
the old file is replaced (only sensible before any file was written with it).

A joint checkpoint (network + context model, ``train.fidelity --init-context``) exports
both: the network's file and the context's own small file, named in the entry's ``context``.

Writes ``hific_codec/weights/<name>-<sha8>.safetensors`` and records it (with hash, training
hours and steps) in ``weights/manifest.json``.  The factorized prior of ``z`` is frozen here into
per-channel probability tables so that decoders never evaluate it in floating point.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json

import torch
from safetensors.torch import save

from .. import checkpoint, zoo
from ..models import contexts
from ..models.hyperprior import HyperpriorConfig, MeanScaleHyperprior

TAIL = 1e-9  # probability mass left to the escape symbol on each side of a z table
Z_RANGE = 256  # the tables are searched within +-Z_RANGE
# Model 7 on.  A channel whose z stayed near 0 in training learns a density with almost no mass at
# +-1 (the noise proxy never leaves (-0.5, 0.5)), so TAIL alone cut its table to {0} and every
# +-1 on a real image became a ~40-bit escape (kodim23 q20: 78 escapes, 5% of the file).  Every
# table now spans at least +-Z_SPAN, and a Z_LEAK share of its mass is spread evenly over it.
Z_SPAN = 4
Z_LEAK = 1e-4


@torch.no_grad()

def context_file(ctx: torch.nn.Module, name: str) -> tuple[bytes, str, str]:
    """The context model as shipped: (fp16 safetensors bytes, SHA-256, file name)."""
    from safetensors.torch import save

    blob = save({k: v.half().contiguous() for k, v in ctx.state_dict().items()}, metadata={"family": "context"})
    sha = hashlib.sha256(blob).hexdigest()
    return blob, sha, f"{name}-ctx-{sha[:8]}.safetensors"

def z_tables(model: MeanScaleHyperprior) -> dict[str, torch.Tensor]:
    eb = model.entropy_bottleneck
    C = model.cfg.N
    v = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float32)
    x = v.repeat(C, 1).unsqueeze(1)  # (C, 1, K) as _logits_cumulative expects
    upper = torch.sigmoid(eb._logits_cumulative(x + 0.5, stop_gradient=True)).squeeze(1).double()
    lower = torch.sigmoid(eb._logits_cumulative(x - 0.5, stop_gradient=True)).squeeze(1).double()
    pmf = (upper - lower).clamp_min(0)
    offsets, lengths, rows = [], [], []
    for c in range(C):
        keep = ((lower[c] >= TAIL) & (upper[c] <= 1 - TAIL)) | (v.abs() <= Z_SPAN)
        idx = torch.nonzero(keep).flatten()
        lo, hi = int(idx[0]), int(idx[-1])
        p = (1 - Z_LEAK) * pmf[c, lo : hi + 1] + Z_LEAK / (hi + 1 - lo)
        tail = lower[c, lo] + (1 - upper[c, hi])
        rows.append(torch.cat([p, tail.view(1)]))
        offsets.append(lo - Z_RANGE)
        lengths.append(len(rows[-1]))
    mat = torch.zeros(C, max(lengths), dtype=torch.float64)
    for c, r in enumerate(rows):
        mat[c, : len(r)] = r
    return {"z_tables.offsets": torch.tensor(offsets), "z_tables.lengths": torch.tensor(lengths), "z_tables.pmf": mat}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--name", default=zoo.DEFAULT_MODEL)
    ap.add_argument("--model-id", type=int, help="default: the name's id, or the next free id for a new name or when retiring")
    ap.add_argument("--retire-as", help="keep the name's current weights under this name")
    ap.add_argument("--notes", default="")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="override an inference-only config field in the entry, e.g. t_min=-3 or gs_form='\"subpixel\"'")
    args = ap.parse_args(argv)

    meta = checkpoint.load_meta(args.checkpoint)
    cfg = HyperpriorConfig(**meta["model_config"])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in ("t_min", "gs_form"):  # the others shape the network or its training
            raise SystemExit(f"--set {key}: only t_min and gs_form can be set at export")
        cfg = dataclasses.replace(cfg, **{key: json.loads(value)})
    model = MeanScaleHyperprior(cfg)
    ctx = None
    if "context_config" in meta:  # joint run (train/fidelity.py's Joint: net + ctx)
        from .fidelity import Joint

        ctx = contexts.build(meta.get("context_kind", contexts.DEFAULT), meta["context_config"])
        checkpoint.load(args.checkpoint, Joint(model, ctx))
    else:
        checkpoint.load(args.checkpoint, model)
    model.eval()
    tensors = {k: v.half() for k, v in model.state_dict().items()}
    tensors.update(z_tables(model))
    blob = save(tensors, metadata={"family": "hyperprior", "config": json.dumps(dataclasses.asdict(cfg))})
    sha = hashlib.sha256(blob).hexdigest()
    fname = f"{args.name}-{sha[:8]}.safetensors"
    manifest = json.loads(zoo.MANIFEST.read_text()) if zoo.MANIFEST.exists() else {}
    old = manifest.get(args.name)
    model_id = args.model_id
    if old and old["file"] != fname:
        if args.retire_as:
            retire(manifest, args.name, args.retire_as)
            model_id = model_id or next_model_id(manifest)
        else:  # one file per name: the manifest is the truth
            others = {e["file"] for n, e in manifest.items() if n != args.name}  # e.g. a base shared with a context entry
            for f in [old["file"]] + ([old["context"]["file"]] if old.get("context") else []):
                if f not in others and (zoo.WEIGHTS_DIR / f).exists():
                    (zoo.WEIGHTS_DIR / f).unlink()
    model_id = model_id or (old["model_id"] if old else next_model_id(manifest))
    if any(e["model_id"] == model_id for n, e in manifest.items() if n != args.name):
        raise SystemExit(f"model id {model_id} is taken")
    # A run started from another checkpoint (--init) counts that network's steps too.
    steps = meta["step"] + meta.get("init", {}).get("network_steps", 0)
    manifest[args.name] = {
        "model_id": model_id, "family": "hyperprior", "config": dataclasses.asdict(cfg), "file": fname,
        "sha256": sha, "train_hours": round(meta["seconds"] / 3600, 3), "train_steps": steps,
        "notes": args.notes,
    }
    if meta.get("gpu_seconds"):  # of train_hours, those on a GPU (the rest: 2 CPU cores)
        manifest[args.name]["gpu_hours"] = round(meta["gpu_seconds"] / 3600, 3)
    zoo.WEIGHTS_DIR.mkdir(exist_ok=True)  # files only once the manifest logic has accepted them
    (zoo.WEIGHTS_DIR / fname).write_bytes(blob)
    if ctx is not None:
        cblob, csha, cname = context_file(ctx, args.name)
        (zoo.WEIGHTS_DIR / cname).write_bytes(cblob)
        # The joint steps are in the network's hours; the context's record keeps its pre-training
        # only, so that the entry's total hours count each CPU hour once.
        manifest[args.name]["context"] = {
            "file": cname, "sha256": csha, "config": meta["context_config"],
            "train_hours": round(meta["context_seconds"] / 3600, 3),
            "train_steps": meta["init"]["context_steps"],
            "train_config": {"joint_steps": meta["step"], **meta["train_config"]},
        }
        if contexts.kind_of(ctx) != contexts.DEFAULT:  # entries name other kinds only
            manifest[args.name]["context"]["kind"] = contexts.kind_of(ctx)
    zoo.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {fname} ({len(blob) / 1e6:.2f} MB), {meta['step']} steps, {meta['seconds'] / 3600:.2f} h")


def retire(manifest: dict, name: str, retire_as: str) -> None:
    """Move the entry under ``name`` to ``retire_as``, so that it keeps shipping (files written
    with it keep decoding) while ``name`` takes new weights.  The new name must be free."""
    if not retire_as or retire_as in manifest:
        raise SystemExit(f"{name!r} still decodes files in the wild: give a free --retire-as name for it")
    manifest[retire_as] = manifest.pop(name)


def next_model_id(manifest: dict) -> int:
    return 1 + max((e["model_id"] for e in manifest.values()), default=0)


def publish(name: str, tensors: dict[str, torch.Tensor], family: str, config: dict, meta: dict, notes: str,
            **extra) -> str:
    """Write a non-codec network (realism generator, plugin) to the zoo: fp16 safetensors named by
    its hash, and a manifest entry with steps and hours from the checkpoint's ``meta``.  The file
    an earlier export wrote under ``name`` is replaced (nothing in a `.nic` file refers to it)."""
    blob = save({k: v.half().contiguous() for k, v in tensors.items()}, metadata={"family": family})
    sha = hashlib.sha256(blob).hexdigest()
    fname = f"{name}-{sha[:8]}.safetensors"
    manifest = json.loads(zoo.MANIFEST.read_text())
    old = manifest.get(name)
    if old and old["file"] != fname and (zoo.WEIGHTS_DIR / old["file"]).exists():
        (zoo.WEIGHTS_DIR / old["file"]).unlink()
    (zoo.WEIGHTS_DIR / fname).write_bytes(blob)
    manifest[name] = {"model_id": 0, "family": family, "config": config, "file": fname, "sha256": sha,
                      "train_hours": round(meta["seconds"] / 3600, 3), "train_steps": meta["step"], "notes": notes,
                      **extra}
    zoo.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {fname} ({len(blob) / 1e6:.2f} MB), {meta['step']} steps, {meta['seconds'] / 3600:.2f} h")
    return fname


if __name__ == "__main__":
    main()
