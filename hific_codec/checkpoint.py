"""Pickle-free training checkpoints: tensors in safetensors, everything else as JSON metadata.

A checkpoint holds the model config, step, cumulative training seconds, and the optimizer state,
so ``python -m hific_codec.train.<family> --resume`` continues exactly where it stopped.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def save(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, meta: dict[str, Any]) -> None:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    groups = None
    if optimizer is not None:
        sd = optimizer.state_dict()
        for idx, st in sd["state"].items():
            for name, val in st.items():
                tensors[f"optim.{idx}.{name}"] = torch.as_tensor(val).contiguous()
        groups = sd["param_groups"]
    _write(path, tensors, meta, groups)


def _write(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], groups) -> None:
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta), "param_groups": json.dumps(groups)})
    os.replace(tmp, path)  # atomic: a killed run never leaves a half-written checkpoint


def load(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
         keep: tuple[str, ...] = (), part: str = "") -> dict[str, Any]:
    """Model (and optimizer) state from ``path``.  Model entries under the ``keep`` prefixes that the
    checkpoint lacks keep their current values (parts added since it was written); any other
    mismatch is an error.  ``part``: load only the checkpoint's submodule of that name into
    ``model`` (e.g. "net" of a joint checkpoint), without the optimizer."""
    if part and optimizer is not None:
        raise ValueError("the optimizer state belongs to the whole checkpoint, not to one part")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    tensors = load_file(str(path))
    from .models.gdn import drop_compressai_buffers

    prefix = f"model.{part}." if part else "model."
    state = drop_compressai_buffers({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    added = {k: v for k, v in model.state_dict().items() if k.startswith(keep) and k not in state} if keep else {}
    model.load_state_dict({**added, **state})
    groups = json.loads(header.get("param_groups", "null"))
    if optimizer is not None and groups is not None:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    return json.loads(header["meta"])


def load_meta(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["meta"])


def slim(src: str | Path, dst: str | Path) -> None:
    """Write ``src``'s model tensors in fp16 with its meta and no optimizer state: a third of the
    size, for committing or carrying a run.  Training can start again from it (a fresh optimizer)."""
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous()
               for k, v in load_file(str(src)).items() if k.startswith("model.")}
    _write(dst, tensors, load_meta(src), None)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 4 or sys.argv[1] != "slim":
        raise SystemExit("usage: python -m hific_codec.checkpoint slim SRC DST")
    slim(sys.argv[2], sys.argv[3])
