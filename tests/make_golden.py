"""Add golden `.nic` files for the default model (when new weights or a format version ship).

    .venv/bin/python -m tests.make_golden
    .venv/bin/python -m tests.make_golden --realism-only   # a generator or its latents changed
    .venv/bin/python -m tests.make_golden --refs           # (re)write reference pixels and latent pins
    .venv/bin/python -m tests.make_golden --overfit        # add the overfitted (format 1.8) files
    .venv/bin/python -m tests.make_golden --qmap           # add the quality-map (format 1.6) files
    .venv/bin/python -m tests.make_golden --lossless       # add the lossless (format 1.7) files

Writes tests/golden/m<model id>_*.nic and adds them to golden.json (format version, weights hash,
md5 of decoded pixels, md5 of the entropy-decoded latents), with the reference pixels of every
decode the test compares (``<name>.ref.npz``, see tests/golden_ref.py).  Files of earlier models
are never rewritten: they must keep decoding to the same latents exactly, and to the same pixels
within the documented tolerance (or be refused by name once their weights stop shipping).  The
realism decoder's pixels are not part of the format: ``--realism-only`` re-pins them, for every
committed file whose model ships a generator, from the committed files (which it leaves alone).
``--refs`` refuses to run where a decode differs from a pinned MD5: the references are written
on the machine the pins were made on, never re-pinned from another one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

import hific_codec

from . import golden_ref

HERE = Path(__file__).resolve().parent / "golden"
ASSET = Path(__file__).resolve().parent.parent / "assets" / "kodim23.png"


def cases() -> dict[str, tuple[np.ndarray, float]]:
    rgb = np.asarray(Image.open(ASSET).convert("RGB"))
    grey = rgb[300:333, 500:517].mean(axis=2).astype(np.uint8)
    rgba = np.dstack([rgb[:40, :40], np.arange(1600, dtype=np.uint32).reshape(40, 40).astype(np.uint8)])
    return {
        "crop64x96_q10": (rgb[200:264, 300:396], 10.0),
        "crop192x256_q50": (rgb[100:292, 200:456], 50.0),
        "grey33x17_q80": (grey, 80.0),
        "rgba40x40_q30": (rgba, 30.0),
        "tiny1x1_q100": (rgb[:1, :1], 100.0),
        "tiled24x1100_q60": (np.ascontiguousarray(np.tile(rgb[:24], (1, 2, 1))[:, :1100]), 60.0),  # format 1.1
        "crop128x128_q5_rlsm": (rgb[150:278, 250:378], 5.0),  # carries a suggested realism (chunk rlsm)
    }


def md5(a) -> str:
    return hashlib.md5(np.ascontiguousarray(a).tobytes()).hexdigest()


def decodes(data: bytes, realism: bool) -> dict[str, np.ndarray]:
    """Every decode of a golden file the test compares: fidelity, and with a generator the
    realism decoder at knob 1 and the file's default (its suggested knob, or fidelity)."""
    out = {"fidelity": hific_codec.decode(data, decoder="fidelity")}
    if realism:
        out["realism_1.0"] = hific_codec.decode(data, realism=1.0)
        out["default"] = hific_codec.decode(data)
    return out


def latent_pins(data: bytes, bin_mean: bool) -> dict:
    """MD5 of the entropy-decoded latents ŷ (float32, exact on every machine) and, for a
    generator that reads them, of the bin-mean offsets δ."""
    from hific_codec import api

    f = api.bitstream.read(data)
    if f.overfit is not None:
        return {"latents_md5": md5(np.concatenate([g.ravel() for g in overfit_latents(f)]))}
    codec, m = api._model(model_id=f.header.model_id)
    h = f.header
    got = codec.decode_latents(m, h.height, h.width, f.z_stream, f.y_streams, f.tiles, offsets=bin_mean)
    y, d = got if bin_mean else (got, None)
    pins = {"latents_md5": md5(y.numpy())}
    if d is not None:
        pins["delta_md5"] = md5(d.numpy())
    return pins


def overfit_latents(f) -> list[np.ndarray]:
    """The entropy-decoded latent grids of an overfitted file (int64), as its decoder reads them."""
    from bitstream.overfit import OverfitPayload
    from hific_codec.overfit import codec

    return codec.decode_latents(OverfitPayload.from_bytes(f.overfit), f.header.height, f.header.width)[1]


OVERFIT_WEIGHTS = "overfit"  # golden.json's weights field for overfitted files (they carry their decoder)


def overfit_cases(prefix: str) -> dict[str, tuple[np.ndarray, float]]:
    c = cases()
    return {f"{prefix}_crop48x64_q60": (c["crop64x96_q10"][0][:48, :64], 60.0),
            f"{prefix}_grey33x17_q80": c["grey33x17_q80"], f"{prefix}_rgba40x40_q30": c["rgba40x40_q30"]}


def add_overfit(table: dict) -> None:
    """Overfitted files as the encoder writes them now (format 1.8, prefix of18; the 1.5 files,
    prefix of, were written by an earlier encoder): the encoder's float fit is not reproducible
    across machines, so each file is written once; decoders must keep decoding it."""
    for name, (img, q) in overfit_cases("of18").items():
        if name in table:
            continue
        data = hific_codec.encode(img, q, effort=3, seconds=3)
        (HERE / f"{name}.nic").write_bytes(data)
        out = hific_codec.decode(data)
        table[name] = {"version": list(hific_codec.info(data).version), "weights": OVERFIT_WEIGHTS,
                       "shape": list(out.shape), "md5": md5(out)}
        write_refs(name, table[name])


def add_qmap(table: dict) -> None:
    """Files with a quality map (format 1.6): one region of interest, one adaptive map."""
    from hific_codec import zoo

    c = cases()
    model = zoo.get()
    gen = zoo.realism_for(model)
    made = {f"m{model.model_id}_roi96x128_q20_qmap": {"img": c["crop192x256_q50"][0][48:144, 64:192], "q": 20.0,
                                                         "roi": [(32, 24, 64, 48)], "roi_quality": 60.0},
            f"m{model.model_id}_aq64x96_q40_qmap": {"img": c["crop64x96_q10"][0], "q": 40.0, "aq": True}}
    for name, kw in made.items():
        if name in table:
            continue
        img, q = kw.pop("img"), kw.pop("q")
        data = hific_codec.encode(img, q, **kw)
        (HERE / f"{name}.nic").write_bytes(data)
        out = hific_codec.decode(data, decoder="fidelity")
        info = hific_codec.info(data)
        table[name] = {"version": list(info.version), "weights": info.weights_hash, "shape": list(out.shape),
                       "md5": md5(out)}
        if gen is not None:
            table[name]["realism"] = realism_pins(data, gen)
        write_refs(name, table[name])


def write_refs(name: str, row: dict) -> None:
    """Reference pixels and latent pins of one file, checked against its pinned MD5s first."""
    from hific_codec import zoo

    data = (HERE / f"{name}.nic").read_bytes()
    r = row.get("realism")
    if r is not None and r["generator"] not in {e.sha256[:8] for e in zoo.entries().values()}:
        r = None  # the generator no longer ships: its pins stay as a record, nothing to compare
    outs = decodes(data, r is not None)
    pinned = {"fidelity": row["md5"]} | ({"realism_1.0": r["md5_1.0"], "default": r["md5_default"]} if r else {})
    for k, v in outs.items():
        if md5(v) != pinned[k]:
            raise SystemExit(f"{name} {k}: decodes to {md5(v)}, pinned {pinned[k]}; references are written "
                             "only where the pins were made")
    golden_ref.save(HERE / f"{name}.ref.npz", outs)
    row.update(latent_pins(data, bool(r) and r.get("latents") == "bin-mean"))


def realism_pins(data: bytes, gen) -> dict:
    """The realism decoder's pixels for one file, keyed by generator and what it reads."""
    default = hific_codec.decode(data)  # the file's suggestion, if any, else fidelity
    return {"generator": gen.sha256[:8], "latents": gen.latents,
            "md5_1.0": hashlib.md5(hific_codec.decode(data, realism=1.0).tobytes()).hexdigest(),
            "md5_default": hashlib.md5(default.tobytes()).hexdigest()}


def repin_realism(table: dict) -> None:
    from hific_codec import zoo

    for name, row in table.items():
        model = next((e for e in zoo.entries().values() if e.family == "hyperprior" and e.sha256[:8] == row["weights"]), None)
        gen = zoo.realism_for(model) if model else None
        if gen is not None:
            row["realism"] = realism_pins((HERE / f"{name}.nic").read_bytes(), gen)


def lossless_cases() -> dict[str, np.ndarray]:
    """Lossless golden files (ll_*.nic): each must decode to exactly its source here, on every
    machine; there is no table row, the source itself is the pin."""
    rgb = np.asarray(Image.open(ASSET).convert("RGB"))
    alpha = (np.arange(40 * 48, dtype=np.uint32).reshape(40, 48) * 7 % 256).astype(np.uint8)
    return {
        "crop48x64": np.ascontiguousarray(rgb[200:248, 300:364]),
        "grey33x17": rgb[300:333, 500:517].mean(axis=2).astype(np.uint8),
        "rgba40x48": np.dstack([rgb[:40, 100:148], alpha]),
    }


def main() -> None:
    import sys

    HERE.mkdir(exist_ok=True)
    index = HERE / "golden.json"
    table = json.loads(index.read_text()) if index.exists() else {}
    from hific_codec import zoo

    shipped = {e.sha256[:8] for e in zoo.entries().values()}
    if "--realism-only" in sys.argv[1:]:
        repin_realism(table)
        for name, row in table.items():
            if "realism" in row:
                write_refs(name, row)
        index.write_text(json.dumps(table, indent=1) + "\n")
        print(f"re-pinned the realism pixels of {sum('realism' in r for r in table.values())} golden files")
        return
    if "--qmap" in sys.argv[1:]:
        add_qmap(table)
        index.write_text(json.dumps(table, indent=1) + "\n")
        print(f"{sum(n.endswith('_qmap') for n in table)} golden files with a quality map")
        return
    if "--lossless" in sys.argv[1:]:
        for name, img in lossless_cases().items():
            (HERE / f"ll_{name}.nic").write_bytes(hific_codec.encode(img, lossless=True))
        print(f"{len(lossless_cases())} lossless golden files")
        return
    if "--overfit" in sys.argv[1:]:
        add_overfit(table)
        index.write_text(json.dumps(table, indent=1) + "\n")
        print(f"{sum(r['weights'] == OVERFIT_WEIGHTS for r in table.values())} overfitted golden files")
        return
    if "--refs" in sys.argv[1:]:
        for name, row in table.items():
            if row["weights"] in shipped or row["weights"] == OVERFIT_WEIGHTS:
                write_refs(name, row)
        index.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote references for {sum(r['weights'] in shipped for r in table.values())} golden files")
        return

    prefix = f"m{zoo.get().model_id}_"
    gen = zoo.realism_for(zoo.get())
    for name, (img, q) in cases().items():
        name = prefix + name
        data = hific_codec.encode(img, q, realism=0.7 if name.endswith("_rlsm") else None)
        (HERE / f"{name}.nic").write_bytes(data)
        out = hific_codec.decode(data, decoder="fidelity")
        info = hific_codec.info(data)
        table[name] = {"version": list(info.version), "weights": info.weights_hash, "shape": list(out.shape),
                       "md5": hashlib.md5(out.tobytes()).hexdigest()}
        if gen is not None:  # the realism decoder's pixels, pinned per generator (not part of the format)
            table[name]["realism"] = realism_pins(data, gen)
        write_refs(name, table[name])
    index.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(table)} golden files in {HERE}")


if __name__ == "__main__":
    main()
