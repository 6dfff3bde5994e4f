"""Format stability: committed files must decode to the committed pixels, or be refused by name."""
import hashlib
import json
from pathlib import Path

import pytest

import hific_codec
from bitstream import FormatError

GOLDEN = Path(__file__).resolve().parent / "golden"
TABLE = json.loads((GOLDEN / "golden.json").read_text())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_golden_file_decodes_bit_exactly(name):
    data = (GOLDEN / f"{name}.nic").read_bytes()
    expected = TABLE[name]
    from hific_codec import zoo

    shipped = {e.sha256[:8]: e for e in zoo.entries().values()}
    if expected["weights"] not in shipped:  # weights retired: refusal must name them
        with pytest.raises(FormatError, match=expected["weights"]):
            hific_codec.decode(data)
        return
    out = hific_codec.decode(data, decoder="fidelity")
    assert list(out.shape) == expected["shape"]
    assert hashlib.md5(out.tobytes()).hexdigest() == expected["md5"]
    r = expected.get("realism")
    if r and r["generator"] in shipped:
        # pinned for what the generator reads; a change of `latents` must re-pin (make_golden --realism-only)
        assert r.get("latents", "centre") == shipped[r["generator"]].latents
        assert hashlib.md5(hific_codec.decode(data, realism=1.0).tobytes()).hexdigest() == r["md5_1.0"]
        assert hashlib.md5(hific_codec.decode(data).tobytes()).hexdigest() == r["md5_default"]


def test_golden_pins_the_shipped_realism_decoder():
    """The default model's golden files pin its generator's pixels, so none of the checks above is skipped."""
    from hific_codec import zoo

    model = zoo.get()
    gen = zoo.realism_for(model)
    rows = [v for k, v in TABLE.items() if k.startswith(f"m{model.model_id}_")]
    assert gen is not None and len(rows) >= 7
    assert all(v["realism"]["generator"] == gen.sha256[:8] and v["realism"]["latents"] == gen.latents for v in rows)


def test_golden_set_covers_modes_and_sizes():
    shapes = [tuple(v["shape"]) for v in TABLE.values()]
    assert any(len(s) == 2 for s in shapes) and any(len(s) == 3 and s[2] == 4 for s in shapes)
    assert (1, 1, 3) in shapes
