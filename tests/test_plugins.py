"""Plugin registry, contract checks, entry-point discovery, and --post from the API and the CLI."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import hific_codec
from hific_codec import plugins
from hific_codec.plugins import registry

from .conftest import ROOT


def test_builtins_are_listed_with_descriptions():
    table = plugins.available()
    assert {"bicubic2", "bicubic4"} <= set(table)
    assert all(desc and "\n" not in desc for desc in table.values())


def test_unknown_spec_is_a_clear_error():
    with pytest.raises(plugins.PluginError, match="unknown plugin 'nope'.*bicubic2"):
        plugins.create("nope:arg")


def test_bicubic_matches_pillow_and_handles_grey_and_alpha(crop):
    small = crop[:20, :30]
    out = plugins.create("bicubic2")(small)
    assert np.array_equal(out, np.asarray(Image.fromarray(small).resize((60, 40), Image.BICUBIC)))
    assert plugins.create("bicubic4")(small[:, :, 0]).shape == (80, 120)
    rgba = np.dstack([small, np.full(small.shape[:2], 200, np.uint8)])
    out = plugins.create("bicubic2")(rgba)
    assert out.shape == (40, 60, 4) and (out[:, :, 3] == 200).all()


def test_a_plugin_breaking_its_contract_is_caught(crop):
    class Liar(plugins.Plugin):
        name, description = "liar", "returns the wrong size"

        def output_size(self, h, w):
            return 2 * h, 2 * w

        def run(self, image, latents):
            return image

    with pytest.raises(plugins.PluginError, match="promised"):
        Liar()(crop[:8, :8])


def test_third_party_plugin_via_entry_point(tmp_path, monkeypatch, crop):
    (tmp_path / "nic_invert.py").write_text(textwrap.dedent('''
        from hific_codec.plugins import Plugin

        class Invert(Plugin):
            name, description = "invert", "negative image (test plugin)"
            uses_latents = True

            def run(self, image, latents):
                assert latents is None or latents.y_hat.ndim == 3
                return 255 - image
    '''))
    dist = tmp_path / "nic_invert-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nic-invert\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nic.plugins]\ninvert = nic_invert:Invert\nbicubic2 = nic_invert:Invert\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._table.cache_clear()
    try:
        assert plugins.available()["invert"] == "negative image (test plugin)"
        assert plugins.available()["bicubic2"].startswith("x2 bicubic")  # built-ins cannot be shadowed
        data = hific_codec.encode(crop[:32, :48], 50)
        plain = hific_codec.decode(data)
        assert np.array_equal(hific_codec.decode(data, post=["invert"]), 255 - plain)
        chained = hific_codec.decode(data, post=["invert", "bicubic2"])
        assert chained.shape == (64, 96, 3)
    finally:
        registry._table.cache_clear()


def test_cli_plugins_and_post(tmp_path, crop):
    src = tmp_path / "x.png"
    Image.fromarray(crop[:40, :56]).save(src)
    run = lambda *a: subprocess.run([sys.executable, "-m", "hific_codec", *a], capture_output=True, cwd=ROOT, text=True,
                                     check=False)
    assert "bicubic4" in run("plugins").stdout
    assert run("encode", str(src), "-o", str(tmp_path / "x.nic")).returncode == 0
    r = run("decode", str(tmp_path / "x.nic"), "-o", str(tmp_path / "y.png"), "--post", "bicubic2", "--post", "bicubic2")
    assert r.returncode == 0 and Image.open(tmp_path / "y.png").size == (224, 160)
    r = run("decode", str(tmp_path / "x.nic"), "-o", str(tmp_path / "z.png"), "--post", "sr9")
    assert r.returncode == 1 and "unknown plugin 'sr9'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "z.png").exists()


def test_listing_flags_learned_plugins_whose_weights_are_missing(monkeypatch):
    from hific_codec import zoo

    monkeypatch.setattr(zoo, "entries", dict)
    table = plugins.available()
    assert table["style"].endswith("[weights not installed: style-4]")
    assert table["sr4"].endswith("[weights not installed: sr4]")
    assert "not installed" not in table["bicubic2"]


def test_missing_weights_fail_before_any_decoding(monkeypatch):
    from hific_codec import api, zoo

    monkeypatch.setattr(zoo, "entries", dict)
    monkeypatch.setattr(api, "_parse", lambda *a: pytest.fail("decoding started before the plugin loaded"))
    with pytest.raises(plugins.PluginError, match="weights 'sr4' are not installed"):
        api.decode(b"not parsed", post=["bicubic2", "sr4"])
