"""The channel-conditional checkerboard context: it starts at its base checkerboard's rate exactly,
its 2-per-slice passes round-trip exactly, the fixed-point twin tracks the float network, and
training resumes and exports a new model id."""
import copy
import dataclasses

import numpy as np
import pytest
import torch

from hific_codec import codec
from hific_codec.models import contexts
from hific_codec.models.channel_context import ChannelContext, ChannelContextConfig
from hific_codec.models.context import anchor_mask

from .conftest import check_tiled_round_trip


@pytest.fixture(scope="module")
def base():
    return codec.load(model_id=7)  # network + checkerboard, the base model 8 was trained over


def _channel(base, std: float) -> ChannelContext:
    torch.manual_seed(0)
    order = tuple(np.random.default_rng(0).permutation(base.net.cfg.M).tolist())
    ctx = ChannelContext(ChannelContextConfig(base=base.context.cfg, slices=(16, 16, 32, 64), order=order),
                         copy.deepcopy(base.context))
    for head in [*ctx.a, *ctx.n]:
        torch.nn.init.normal_(head[-1].weight, std=std)
    return ctx.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def random_ch(base):
    """Model 7 with channel slices whose corrections are far from zero."""
    ctx = _channel(base, 0.02)
    return dataclasses.replace(base, context=ctx, int_ctx=contexts.exact(ctx), _blends={}, _g_s=None)


def test_new_slices_start_at_the_base_checkerboard_exactly(base, crop):
    ctx = _channel(base, 0.0)
    a = codec.analyse(base, crop)
    y = a.y0 * base.net.gain(base.t(40.0))
    psi = base.net.h_s(torch.round(base.net.h_a(y)))
    for got, want in zip(ctx(psi, y), base.context(psi, y)):
        assert torch.equal(got, want)
    model = dataclasses.replace(base, context=ctx, int_ctx=contexts.exact(ctx), _blends={}, _g_s=None)
    z, ys = codec.code(model, a, 40.0)
    z0, ys0 = codec.code(base, a, 40.0)
    h, w = crop.shape[:2]
    # the same latents with the same parameters, coded in another order: the same bits, give or
    # take the range coder's flush
    assert torch.equal(codec.decode_latents(model, h, w, z, ys), codec.decode_latents(base, h, w, z0, ys0))
    assert z == z0 and abs(len(ys[0]) - len(ys0[0])) <= 8


def test_sliced_passes_round_trip_exactly(random_ch, base, crop):
    a = codec.analyse(random_ch, crop)
    for q in (5.0, 60.0):
        z, ys = codec.code(random_ch, a, q)
        got = codec.decode_latents(random_ch, crop.shape[0], crop.shape[1], z, ys).double().numpy()
        y = (a.y0 * random_ch.net.gain(random_ch.t(q))).double().numpy()
        assert np.abs(got - y).max() <= 0.5 + 1e-9  # every latent is y rounded within half a step
        plain = codec.decode_latents(base, crop.shape[0], crop.shape[1], *codec.code(base, a, q)).double().numpy()
        first = np.broadcast_to(anchor_mask(*y.shape[2:]).bool().numpy(), y.shape)
        # the slices moved means at both kinds of position (a test of the test)
        assert not np.array_equal(got[first], plain[first]) and not np.array_equal(got[~first], plain[~first])


def test_tiled_sliced_coding_round_trips(random_ch, crop):
    check_tiled_round_trip(random_ch, crop)


def test_fixed_point_slices_track_the_float_network(random_ch, crop):
    """The coder's (exact) means against the float twin's, on the latents the coder decoded."""
    a = codec.analyse(random_ch, crop)
    z, ys = codec.code(random_ch, a, 50.0)
    y_hat = codec.decode_latents(random_ch, crop.shape[0], crop.shape[1], z, ys)
    z_hat = torch.round(random_ch.net.h_a(a.y0 * random_ch.net.gain(random_ch.t(50.0))))
    psi = torch.from_numpy(random_ch.int_hs.accumulators(z_hat.numpy().astype(np.int64)) * 2.0**-24).float()
    _, _mean, y_float = random_ch.context(psi, y_hat)  # ŷ in: its rounding must give ŷ back
    err = (y_float - y_hat).abs()  # the same integers plus means that agree to ~2**-8
    assert err.mean() < 0.003 and err.max() < 0.1
    for threads in (1, 3):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            again = codec.code(random_ch, a, 50.0)
        finally:
            torch.set_num_threads(old)
        assert again == (z, ys)


def test_config_is_checked():
    with pytest.raises(ValueError, match="partition"):
        ChannelContextConfig(slices=(16, 16))
    with pytest.raises(ValueError, match="permutation"):
        ChannelContextConfig(order=tuple([0] * 128))
    cfg = ChannelContextConfig(order=tuple(range(127, -1, -1)))
    assert ChannelContextConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown context kind"):
        contexts.build("spiral", {})


def test_training_resumes_and_export_ships_a_new_model(tmp_path, scratch_zoo):
    """--channel over model 7 from cached latents: step 0 is model 7's rate exactly, the run
    resumes, and export writes a 1.4 model whose hours include the checkerboard's."""
    import json

    from PIL import Image

    import hific_codec
    from hific_codec import zoo
    from hific_codec.train import context as train_context

    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).resize((160, 160)).save(tmp_path / f"{k}.png")
    args = ["--base-id", "7", "--channel", "16,16,32,64", "--cache", "6", "--run-dir", str(tmp_path / "run"),
            "--data", str(tmp_path), "--threads", "1", "--crop", "64", "--batch", "2", "--eval-every", "2"]
    train_context.main(args + ["--steps", "2"])
    assert (tmp_path / "run" / "latents.safetensors").exists()
    train_context.main(args + ["--steps", "3"])  # resumes at step 2, reuses the cached latents
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 3] and rows[0]["t7_saving"] == 0.0 == rows[0]["t-3_saving"]
    wdir = scratch_zoo
    before = json.loads((wdir / "manifest.json").read_text())
    seven = next(e for e in before.values() if e["model_id"] == 7)
    train_context.main(["--export", str(tmp_path / "run" / "last.safetensors"), "--retire-as", "retired-for-test"])
    table = json.loads((wdir / "manifest.json").read_text())
    new = table["hyperprior-vr"]
    assert new["model_id"] == max(e["model_id"] for e in before.values()) + 1 and new["sha256"] == seven["sha256"]
    assert new["context"]["kind"] == "channel" and new["context"]["init"]["sha256"] == seven["context"]["sha256"]
    assert new["context"]["train_steps"] == seven["context"]["train_steps"] + 3
    assert new["context"]["train_hours"] >= seven["context"]["train_hours"]
    zoo.entries.cache_clear()
    codec.load.cache_clear()
    img = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    data = hific_codec.encode(img, 50)
    assert hific_codec.info(data).version == (1, 4)
    assert hific_codec.decode(data).shape == img.shape
    assert zoo.realism_for(zoo.get()) is not None  # the generator follows the network weights


def test_joint_training_with_channel_slices_exports_a_1_4_model(tmp_path, scratch_zoo):
    """train.fidelity --init-context of a channel-context checkpoint: network and slices train
    together (from a fidelity or a joint checkpoint, whose checkerboard the slices' own replaces);
    the context's hours include its checkerboard's; export writes a channel entry that codes 1.4."""
    import json

    from PIL import Image

    import hific_codec
    from hific_codec import checkpoint, zoo
    from hific_codec.models.context import CheckerboardContext, ContextConfig
    from hific_codec.train import export, fidelity

    rng = np.random.default_rng(2)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).resize((160, 160)).save(tmp_path / f"{k}.png")
    common = ["--data", str(tmp_path), "--threads", "1", "--crop", "64", "--batch", "2", "--eval-every", "100",
              "--t-min", "-3"]
    fidelity.main(["--run-dir", str(tmp_path / "net"), "--N", "8", "--M", "8", "--steps", "1"] + common)
    cfg = ChannelContextConfig(base=ContextConfig(M=8, channels=8, hidden=16), slices=(2, 6),
                               order=(3, 1, 0, 2, 4, 5, 7, 6), features=4, hidden=8)
    ch = ChannelContext(cfg)
    torch.nn.init.normal_(ch.n[0][-1].weight, std=0.05)  # not the checkerboard alone
    ch_ckpt = tmp_path / "ch.safetensors"
    checkpoint.save(ch_ckpt, ch, None, {"step": 4, "seconds": 72.0, "model_config": cfg.to_dict(), "kind": "channel",
                                        "init_context": {"sha256": "0" * 64, "train_hours": 0.02, "train_steps": 5}})
    joint = ["--run-dir", str(tmp_path / "joint"), "--init", str(tmp_path / "net" / "last.safetensors"),
             "--init-context", str(ch_ckpt)] + common
    fidelity.main(joint + ["--steps", "1"])
    fidelity.main(joint + ["--steps", "2"])  # resumes: the context is rebuilt by its kind
    meta = checkpoint.load_meta(tmp_path / "joint" / "last.safetensors")
    assert meta["step"] == 2 and meta["context_kind"] == "channel"
    assert meta["context_seconds"] == 72.0 + 72.0 and meta["init"]["context_steps"] == 4 + 5
    from safetensors.torch import load_file

    trained = load_file(tmp_path / "joint" / "last.safetensors")["model.ctx.n.0.2.weight"]
    assert trained.shape == ch.n[0][-1].weight.shape and not torch.equal(trained, ch.n[0][-1].weight)  # trained too

    # From a joint checkpoint (network + checkerboard): the channel context replaces its checkerboard.
    cb = tmp_path / "cb.safetensors"
    checkpoint.save(cb, CheckerboardContext(cfg.base), None, {"step": 5, "seconds": 72.0,
                                                             "model_config": dataclasses.asdict(cfg.base)})
    fidelity.main(["--run-dir", str(tmp_path / "cbj"), "--init", str(tmp_path / "net" / "last.safetensors"),
                   "--init-context", str(cb), "--steps", "1"] + common)
    fidelity.main(["--run-dir", str(tmp_path / "swap"), "--init", str(tmp_path / "cbj" / "last.safetensors"),
                   "--init-context", str(ch_ckpt), "--steps", "1"] + common)
    assert checkpoint.load_meta(tmp_path / "swap" / "last.safetensors")["context_kind"] == "channel"
    fidelity.main(["--run-dir", str(tmp_path / "on"), "--init", str(tmp_path / "swap" / "last.safetensors"),
                   "--steps", "1"] + common)  # a joint run with slices continues with both
    on = checkpoint.load_meta(tmp_path / "on" / "last.safetensors")
    assert on["context_kind"] == "channel" and on["init"]["network_steps"] == 1 + 1 + 1
    with pytest.raises(SystemExit, match="channel context"):  # a checkerboard cannot replace one
        fidelity.main(["--run-dir", str(tmp_path / "x"), "--init", str(tmp_path / "cbj" / "last.safetensors"),
                       "--init-context", str(cb)] + common)

    wdir = scratch_zoo
    export.main([str(tmp_path / "joint" / "last.safetensors"), "--name", "tiny-channel"])
    e = json.loads((wdir / "manifest.json").read_text())["tiny-channel"]
    assert e["context"]["kind"] == "channel" and e["context"]["train_steps"] == 9 and e["context"]["train_hours"] == 0.04
    zoo.entries.cache_clear()
    codec.load.cache_clear()
    img = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    data = hific_codec.encode(img, 50, model="tiny-channel")
    assert hific_codec.info(data).version == (1, 4)  # slices: format 1.4
    out = hific_codec.decode(data)
    assert out.shape == img.shape and np.array_equal(out, hific_codec.decode(data))
