"""Format stability: committed files must decode to the committed latents exactly, and to the
reference pixels within the cross-machine tolerance (tests/golden_ref.py), or be refused by name."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import hific_codec
from bitstream import FormatError

from . import golden_ref
from .make_golden import OVERFIT_WEIGHTS, decodes, latent_pins

GOLDEN = Path(__file__).resolve().parent / "golden"
TABLE = json.loads((GOLDEN / "golden.json").read_text())


def _shipped():
    from hific_codec import zoo

    return {e.sha256[:8]: e for e in zoo.entries().values()}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_golden_file_decodes_to_pinned_latents_and_pixels(name):
    data = (GOLDEN / f"{name}.nic").read_bytes()
    expected = TABLE[name]
    shipped = _shipped()
    if expected["weights"] not in shipped and expected["weights"] != OVERFIT_WEIGHTS:  # retired: refusal names them
        with pytest.raises(FormatError, match=expected["weights"]):
            hific_codec.decode(data)
        return
    r = expected.get("realism")
    realism = bool(r) and r["generator"] in shipped
    if realism:  # pinned for what the generator reads; a change of `latents` must re-pin (make_golden --realism-only)
        assert r.get("latents", "centre") == shipped[r["generator"]].latents
    # entropy decoding is exact on every machine: the latents (and bin-mean offsets) match bit for bit
    pins = latent_pins(data, realism and r["latents"] == "bin-mean")
    assert pins == {k: expected[k] for k in pins}
    refs = golden_ref.load(GOLDEN / f"{name}.ref.npz")
    md5s = {"fidelity": expected["md5"]} | ({"realism_1.0": r["md5_1.0"], "default": r["md5_default"]} if realism else {})
    outs = decodes(data, realism)
    assert set(outs) == set(md5s) <= set(refs)
    for k, out in outs.items():
        assert list(out.shape) == expected["shape"]
        c = golden_ref.compare(out, refs[k], md5s[k])
        assert c.within_tolerance, (k, c)


def test_tolerance_check_catches_real_differences():
    """The comparison accepts the reference and one-level flips within the allowance, and refuses
    a two-level error, too many flips, or a reference that does not match its MD5."""
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    packed, md5 = golden_ref.pack(ref), hashlib.md5(ref.tobytes()).hexdigest()
    assert golden_ref.compare(ref, packed, md5).differing == 0
    flip = ref.copy().ravel()
    n = golden_ref.allowed(flip.size)
    idx = rng.choice(np.flatnonzero((flip > 0) & (flip < 255)), n + 1, replace=False)
    flip[idx[:n]] += 1
    c = golden_ref.compare(flip, packed, md5)
    assert c.within_tolerance and c.differing == n
    flip[idx[n]] -= 1
    assert not golden_ref.compare(flip, packed, md5).within_tolerance  # one flip too many
    two = ref.copy().ravel()
    two[idx[0]] += 2 if two[idx[0]] < 254 else -2
    assert not golden_ref.compare(two, packed, md5).within_tolerance
    three = ref.copy().ravel()
    j = int(np.flatnonzero(three >= 3)[0])
    three[j] -= 3  # aliases to +1 in the residues: the MD5 catches it
    assert not golden_ref.compare(three, packed, md5).reference_recovered
    assert not golden_ref.compare(ref, packed, "0" * 32).within_tolerance


def test_golden_pins_the_shipped_realism_decoder():
    """The default model's golden files pin its generator's pixels, so none of the checks above is skipped."""
    from hific_codec import zoo

    model = zoo.get()
    gen = zoo.realism_for(model)
    rows = [v for k, v in TABLE.items() if k.startswith(f"m{model.model_id}_")]
    assert gen is not None and len(rows) >= 7
    assert all(v["realism"]["generator"] == gen.sha256[:8] and v["realism"]["latents"] == gen.latents for v in rows)
    assert all("latents_md5" in v and (GOLDEN / f"{k}.ref.npz").exists() for k, v in TABLE.items()
               if v["weights"] in _shipped() or v["weights"] == OVERFIT_WEIGHTS)
    assert sum(v["weights"] == OVERFIT_WEIGHTS and v["version"] == [1, 5] for v in TABLE.values()) >= 3


def test_golden_set_covers_modes_and_sizes():
    assert sum(v["version"] == [1, 6] and name.endswith("_qmap") for name, v in TABLE.items()) >= 2  # quality maps
    shapes = [tuple(v["shape"]) for v in TABLE.values()]
    assert any(len(s) == 2 for s in shapes) and any(len(s) == 3 and s[2] == 4 for s in shapes)
    assert (1, 1, 3) in shapes
