"""The realism decoder: one bitstream, two synthesis transforms, a knob between them."""
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

import bitstream
import hific_codec
from hific_codec import checkpoint, cli, codec, zoo
from hific_codec.models.discriminator import ConditionalPatchDiscriminator
from hific_codec.models.generator import RealismGenerator, blend_state

from .conftest import psnr


@pytest.fixture(scope="module")
def low_rate(crop) -> bytes:
    return hific_codec.encode(crop, quality=10)  # an extrapolated low-rate level (t = -2)


def test_a_realism_decoder_ships_for_the_default_model():
    e = zoo.realism_for(zoo.get())
    assert e is not None and e.family == "realism" and e.train_steps > 0 and e.train_hours > 0
    zoo.verified_bytes(e)  # hash matches the manifest


def test_realism_zero_is_the_fidelity_decoder_exactly(low_rate):
    fid = hific_codec.decode(low_rate)
    assert np.array_equal(hific_codec.decode(low_rate, decoder="realism", realism=0.0), fid)
    assert np.array_equal(hific_codec.decode(low_rate, decoder="fidelity"), fid)


def test_realism_decoder_changes_pixels_and_stays_close_in_psnr(crop, low_rate):
    fid = hific_codec.decode(low_rate)
    real = hific_codec.decode(low_rate, decoder="realism")
    half = hific_codec.decode(low_rate, realism=0.5)  # a knob value alone selects the realism decoder
    quarter = hific_codec.decode(low_rate, realism=0.25)
    three_q = hific_codec.decode(low_rate, realism=0.75)
    assert real.shape == fid.shape == crop.shape
    d = [np.abs(o.astype(int) - fid).mean() for o in (quarter, half, three_q, real)]
    # The knob moves steadily away from the fidelity output: generator 17879f84 (knob in the loop,
    # 4 blocks, moving average) measured 0.89 / 1.40 / 1.81 / 2.35 levels here, 43627eeb 0.87 /
    # 1.39 / 1.86 / 2.55; f805c037, trained at 1 only, measured 2.25 / 3.21 / 3.06 / 2.79.
    assert 0 < d[0] < d[1] < d[2] < d[3]
    for out in (quarter, half, three_q, real):
        assert psnr(crop, out) > psnr(crop, fid) - 2.5  # the bound, here on one crop


def test_realism_output_is_pinned_and_thread_invariant(low_rate):
    digests = set()
    for threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            digests.add(hashlib.md5(hific_codec.decode(low_rate, decoder="realism", realism=0.8).tobytes()).hexdigest())
        finally:
            torch.set_num_threads(old)
    assert len(digests) == 1


@pytest.mark.parametrize("name", ["m8_crop192x256_q50", "m8_tiled24x1100_q60"])
def test_realism_at_knob_1_is_thread_invariant_on_the_files_that_once_differed(name):
    """Without MKL's strict mode these two files decoded differently with 1 and 2 threads on an
    Intel Xeon at knob 1 (hific_codec/numerics.py)."""
    from pathlib import Path

    data = (Path(__file__).parent / "golden" / f"{name}.nic").read_bytes()
    outs = []
    for threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            outs.append(hific_codec.decode(data, realism=1.0))
        finally:
            torch.set_num_threads(old)
    assert np.array_equal(outs[0], outs[1])


def test_batched_realism_decode_equals_single(crop, low_rate):
    other = hific_codec.encode(crop[::-1].copy(), quality=20)
    batch = hific_codec.decode_batch([low_rate, other], decoder="realism", realism=0.7)
    assert np.array_equal(batch[0], hific_codec.decode(low_rate, decoder="realism", realism=0.7))
    assert np.array_equal(batch[1], hific_codec.decode(other, decoder="realism", realism=0.7))


def test_suggested_realism_is_recorded_and_used(crop):
    data = hific_codec.encode(crop, quality=10, realism=0.6)
    plain = hific_codec.encode(crop, quality=10)
    assert data != plain and bitstream.read(data).z_stream == bitstream.read(plain).z_stream
    assert hific_codec.info(data).realism == 0.6 and hific_codec.info(plain).realism is None
    assert hific_codec.info(data).decoders == ("fidelity", "realism")
    assert np.array_equal(hific_codec.decode(data), hific_codec.decode(plain, decoder="realism", realism=0.6))
    assert np.array_equal(hific_codec.decode(data, decoder="fidelity"), hific_codec.decode(plain))
    assert np.array_equal(hific_codec.decode(data, decoder="realism"), hific_codec.decode(plain, realism=0.6))


@pytest.mark.parametrize("kwargs, match", [
    ({"decoder": "gan"}, "decoder must be one of"),
    ({"realism": 1.5}, "within 0..1"),
    ({"realism": -0.1}, "within 0..1"),
    ({"decoder": "fidelity", "realism": 0.5}, "applies to the realism decoder"),
])
def test_bad_decoder_arguments_are_clear_errors(low_rate, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hific_codec.decode(low_rate, **kwargs)


def test_encode_rejects_a_bad_suggestion(crop):
    with pytest.raises(ValueError, match="within 0..1"):
        hific_codec.encode(crop[:64, :64], realism=2)


def test_files_of_a_model_without_a_generator_name_the_problem(crop, monkeypatch):
    """Models 4 and 5 lost their generators to the weights budget: fidelity only."""
    data = hific_codec.encode(crop[:64, :64], quality=50, model="hyperprior-vr-4")
    assert all(zoo.realism_for(zoo.get(model_id=i)) is None for i in (4, 5))
    monkeypatch.setattr(codec.load(model_id=4), "_blends", {})  # nothing cached from other tests
    with pytest.raises(bitstream.FormatError, match="no realism decoder is installed"):
        hific_codec.decode(data, decoder="realism")
    assert hific_codec.info(data).decoders == ("fidelity",)


def test_cli_decoder_flags(tmp_path, crop, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(crop).save(src)
    assert cli.main(["encode", str(src), "-q", "10", "--realism", "0.5"]) == 0
    nic = tmp_path / "in.nic"
    assert cli.main(["decode", str(nic), "-o", str(tmp_path / "r.png"), "--decoder", "realism", "--realism", "0.8"]) == 0
    assert "realism 0.8 decoder" in capsys.readouterr().err
    out = np.asarray(Image.open(tmp_path / "r.png"))
    assert np.array_equal(out, hific_codec.decode(nic.read_bytes(), realism=0.8))
    assert cli.main(["decode", str(nic), "-o", str(tmp_path / "bad.png"), "--realism", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "within 0..1" in err and not (tmp_path / "bad.png").exists()
    assert cli.main(["info", str(nic)]) == 0
    assert "fidelity, realism (suggested realism 0.5)" in capsys.readouterr().out


def test_blend_is_exact_at_the_ends():
    gen = torch.Generator().manual_seed(0)
    a = {"w": torch.randn(5, 3, generator=gen), "b": torch.randn(3, generator=gen)}
    b = {"w": torch.randn(5, 3, generator=gen), "b": torch.randn(3, generator=gen)}
    assert all(torch.equal(blend_state(a, b, 0.0)[k], a[k]) for k in a)
    # at 1, a + (b - a) is b to the rounding of the larger operand (an unseeded draw with a small
    # b beside a large a once failed allclose's default tolerance, which scales with b alone)
    assert all(torch.allclose(blend_state(a, b, 1.0)[k], b[k], rtol=0, atol=1e-6) for k in a)
    assert not torch.allclose(blend_state(a, b, 0.99)["w"], b["w"], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="layout"):
        blend_state(a, {"w": b["w"]}, 0.5)


def test_generator_starts_as_the_fidelity_decoder_and_d_is_patchwise():
    net = codec.load().net
    g = RealismGenerator.from_fidelity(net)
    y = torch.randn(1, net.cfg.M, 4, 6)
    t = torch.tensor([1.5])
    ig = net.inv_gain(t, g.log_inv_gain)
    assert torch.equal(g(y, ig), net.g_s(y * net.inv_gain(t)))
    d = ConditionalPatchDiscriminator(net.cfg.M)
    assert d(torch.rand(2, 3, 64, 96), y.repeat(2, 1, 1, 1)).shape == (2, 1, 4, 6)


def test_low_quality_levels_extrapolate_below_the_trained_range(crop):
    """q0..q30 are rate levels -3..0 (model 3 on): rates keep falling smoothly below level 0."""
    sizes = [len(hific_codec.encode(crop, quality=q)) for q in (0, 10, 20, 30)]
    assert sizes == sorted(sizes) and sizes[0] < 0.6 * sizes[3]


def _tiny_photos(folder, seed: int) -> None:
    """Three 160x160 smooth-noise images: enough for a training step."""
    rng = np.random.default_rng(seed)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).resize((160, 160)).save(folder / f"{k}.png")


def test_training_runs_resumes_and_exports(tmp_path, scratch_zoo):
    from hific_codec.train import realism as train_realism

    _tiny_photos(tmp_path, 0)
    args = ["--run-dir", str(tmp_path / "run"), "--data", str(tmp_path), "--threads", "1", "--d-warmup", "1",
            "--eval-every", "2"]
    train_realism.main(args + ["--steps", "2"])
    # resumes at step 2, knob in the loop, G now reading the bin means it decodes with
    train_realism.main(args + ["--steps", "3", "--knob-frac", "0.5", "--train-latents", "bin-mean"])
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3] and all(np.isfinite(r["t0_psnr_real"]) for r in rows)
    assert all(np.isfinite(r["t0_psnr_half"]) for r in rows)
    meta = checkpoint.load_meta(tmp_path / "run" / "last.safetensors")
    assert meta["realism_config"]["knob_frac"] == 0.5 and meta["history"][-1]["config"]["knob_frac"] == 0.5
    assert meta["realism_config"]["latents"] == "bin-mean"
    # export into a scratch zoo: weights + manifest entry tied to the base model's hash
    wdir = scratch_zoo
    train_realism.main(["--export", str(tmp_path / "run" / "last.safetensors"), "--name", "realism-test"])
    entry = json.loads((wdir / "manifest.json").read_text())["realism-test"]
    assert entry["base"] == zoo.get().sha256 and entry["train_steps"] == 3 and (wdir / entry["file"]).exists()
    assert entry["latents"] == "bin-mean"  # the decode-time input, as for the shipped generator
    # A generator that decodes for other shipped weights is never replaced, only moved aside.
    table = json.loads((wdir / "manifest.json").read_text())
    table["realism-test"]["base"] = zoo.get(model_id=4).sha256
    (wdir / "manifest.json").write_text(json.dumps(table))
    zoo.entries.cache_clear()
    with pytest.raises(SystemExit, match="retire-as"):
        train_realism.main(["--export", str(tmp_path / "run" / "last.safetensors"), "--name", "realism-test"])
    train_realism.main(["--export", str(tmp_path / "run" / "last.safetensors"), "--name", "realism-test",
                        "--retire-as", "realism-test-2"])
    table = json.loads((wdir / "manifest.json").read_text())
    assert table["realism-test-2"]["base"] == zoo.get(model_id=4).sha256
    assert table["realism-test"]["base"] == zoo.get().sha256


def test_knob_path_is_the_interpolation_and_trains_the_generator_by_alpha():
    """train.realism.Knob: θ(0) is the fidelity g_s, θ(1) the generator, and a loss at α reaches
    θ_G with α times the gradient it has at θ(α) (what knob-in-the-loop training relies on)."""
    from hific_codec import codec
    from hific_codec.models.generator import RealismGenerator
    from hific_codec.train.realism import Knob

    net = codec.load().net
    G = RealismGenerator.from_fidelity(net)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(0.01 * torch.randn_like(p))
    knob = Knob(net, G)
    y = torch.randn(1, net.cfg.M, 4, 4) * 3
    t = torch.tensor([1.0])
    with torch.no_grad():
        assert torch.equal(knob(y, t, 0.0), net.g_s(y * net.inv_gain(t)))
        assert torch.allclose(knob(y, t, 1.0), G(y, net.inv_gain(t, G.log_inv_gain)), atol=1e-6)
    alpha = 0.25
    G.zero_grad()
    knob(y, t, alpha).pow(2).mean().backward()
    # reference: the same loss on a generator that holds θ(α) as its own parameters
    ref = RealismGenerator.from_fidelity(net)
    fid = dict(RealismGenerator.from_fidelity(net).named_parameters())
    with torch.no_grad():
        for (k, p), q in zip(ref.named_parameters(), G.parameters()):
            p.copy_(fid[k] + alpha * (q - fid[k]))
    ref(y, net.inv_gain(t, ref.log_inv_gain)).pow(2).mean().backward()
    g, g_ref = G.g_s[0].bias.grad, ref.g_s[0].bias.grad
    assert g_ref.abs().sum() > 0 and torch.allclose(g, alpha * g_ref, rtol=1e-4, atol=1e-9)


def _with_blocks(net, blocks: int, scale: float, seed: int = 0) -> dict:
    """A generator state with ``blocks`` trained-looking residual blocks (random output convolutions)."""
    torch.manual_seed(seed)
    g = RealismGenerator.from_fidelity(net, blocks)
    with torch.no_grad():
        for b in g.res:
            b.conv_out.weight.normal_(0, scale)
    return {k: v.detach().clone() for k, v in g.state_dict().items()}


def test_residual_blocks_start_as_the_identity_and_the_knob_scales_them():
    from hific_codec.models.generator import blocks_halo, blocks_in, fidelity_twin
    from hific_codec.train.realism import Knob

    net = codec.load().net
    y = torch.randn(1, net.cfg.M, 4, 6) * 3
    t = torch.tensor([1.5])
    g = RealismGenerator.from_fidelity(net, 2)
    assert blocks_halo(g.res) == 4 and blocks_in(g.state_dict()) == 2 and blocks_in(net.g_s.state_dict()) == 0
    assert torch.equal(g(y, net.inv_gain(t, g.log_inv_gain)), net.g_s(y * net.inv_gain(t)))
    state = _with_blocks(net, 2, 0.05)
    twin = fidelity_twin(RealismGenerator.from_fidelity(net).state_dict(), state)
    assert twin.keys() == state.keys() and not twin["res.1.conv_out.weight"].any()
    assert torch.equal(twin["res.0.conv_in.weight"], state["res.0.conv_in.weight"])
    half = blend_state(twin, state, 0.5)
    assert torch.equal(half["res.0.conv_out.weight"], 0.5 * state["res.0.conv_out.weight"])
    # Knob in training: θ(0) is g_s exactly; the input convolutions get their whole gradient,
    # the output convolutions α times it.
    G = RealismGenerator.from_fidelity(net, 2)
    G.load_state_dict(state)
    knob = Knob(net, G)
    with torch.no_grad():
        assert torch.equal(knob(y, t, 0.0), net.g_s(y * net.inv_gain(t)))
        assert not torch.equal(knob(y, t, 1.0), net.g_s(y * net.inv_gain(t)))
    knob(y, t, 0.25).pow(2).mean().backward()
    assert G.res[0].conv_in.weight.grad.abs().sum() > 0 and G.res[0].conv_out.weight.grad.abs().sum() > 0


def test_decoding_with_residual_blocks_is_tile_exact_and_knob_zero_is_fidelity(kodim23, monkeypatch):
    """A generator with latent-resolution blocks: the tiles' wider halo makes a tiled decode the
    whole image's (within float noise, as for g_s), and knob 0 is still the fidelity decoder."""
    model = codec.load()
    state = _with_blocks(model.net, 3, 0.05)
    monkeypatch.setattr(codec, "_realism_state", lambda name: state)
    model._blends.clear()
    try:
        a = codec.analyse(model, kodim23)
        z, ys = codec.code(model, a, 20.0)
        y_hat = codec.decode_latents(model, 512, 768, z, ys)
        whole = codec.synthesise(model, y_hat, 20.0, 512, 768, realism=1.0)
        assert np.array_equal(codec.synthesise(model, y_hat, 20.0, 512, 768, realism=0.0),
                              codec.synthesise(model, y_hat, 20.0, 512, 768))
        monkeypatch.setattr(codec, "LATENT_TILE", 16)
        tiled = codec.synthesise(model, y_hat, 20.0, 512, 768, realism=1.0)
        diff = np.abs(whole.astype(int) - tiled.astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.01
    finally:
        model._blends.clear()


def test_a_run_grows_residual_blocks_from_a_checkpoint(tmp_path, scratch_zoo):
    from safetensors.torch import load_file

    from hific_codec.train import realism as train_realism

    _tiny_photos(tmp_path, 1)
    common = ["--data", str(tmp_path), "--threads", "1", "--d-warmup", "1", "--eval-every", "100"]
    train_realism.main(["--run-dir", str(tmp_path / "a"), "--steps", "2"] + common)
    src = tmp_path / "a" / "last.safetensors"
    with pytest.raises(SystemExit, match="at least"):  # growing never drops blocks
        train_realism.main(["--run-dir", str(tmp_path / "b"), "--grow-from", str(src), "--steps", "3"] + common)
    train_realism.main(["--run-dir", str(tmp_path / "b"), "--grow-from", str(src), "--blocks", "1", "--steps", "3",
                        "--ema", "0.5"] + common)
    meta = checkpoint.load_meta(tmp_path / "b" / "last.safetensors")
    assert meta["step"] == 3 and meta["realism_config"]["blocks"] == 1 and meta["realism_config"]["ema"] == 0.5
    assert meta["history"][-1]["grown_from"] == str(src)
    grown = load_file(str(tmp_path / "b" / "last.safetensors"))
    old = load_file(str(src))
    assert "model.G.res.0.conv_out.weight" in grown and "model.G.res.0.conv_out.weight" not in old
    assert not torch.equal(grown["model.D.cond.weight"], old["model.D.cond.weight"])  # D trained on
    # the moving average started at the grown G and lags it: between the start and G
    e, g = grown["model.E.res.0.conv_out.weight"], grown["model.G.res.0.conv_out.weight"]
    assert g.abs().sum() > e.abs().sum() > 0
    wdir = scratch_zoo
    train_realism.main(["--export", str(tmp_path / "b" / "last.safetensors"), "--name", "realism-test"])
    entry = json.loads((wdir / "manifest.json").read_text())["realism-test"]
    assert torch.equal(load_file(str(wdir / entry["file"]))["res.0.conv_out.weight"], e.half())  # E ships


def test_training_sees_the_latents_and_offsets_the_decoder_reads(kodim23):
    """train.realism.frozen_latents (float h_s and context) against the coder's exact ŷ and δ on
    one crop: training with --train-latents bin-mean feeds G what the realism decoder will."""
    from hific_codec.train.realism import frozen_latents

    crop = kodim23[64:192, 128:320]
    model = codec.load()
    data = hific_codec.encode(crop, quality=10)
    f = bitstream.read(data)
    y_dec, d_dec = codec.decode_latents(model, 128, 192, f.z_stream, f.y_streams, offsets=True)
    x = torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    y_tr, d_tr = frozen_latents(model, x, model.t(10.0), offsets=True)
    same_y = ((y_tr - y_dec).abs() < 0.05).float().mean().item()  # float vs exact μ: same symbols
    same_d = (d_tr == d_dec).float().mean().item()
    assert same_y > 0.99 and same_d > 0.98, (same_y, same_d)
    assert (d_dec != 0).float().mean().item() > 0.01  # the offsets are not trivially all zero
