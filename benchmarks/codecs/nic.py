"""NIC itself, through the public API (real `.nic` files, container included)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import register
from .base import Codec


@dataclass
class NicCodec(Codec):
    model: str | None = None
    decoder: str = "fidelity"
    realism: float | None = None
    effort: int = 0

    def check(self) -> None:
        from hific_codec import codec, zoo

        from .base import CodecUnavailable

        m = codec.load(self.model)  # load once, outside the timings
        if self.decoder == "realism":
            if zoo.realism_for(m.entry) is None:
                raise CodecUnavailable(f"no realism decoder is installed for {m.entry.name}")
            m.synthesis(self.realism)

    def encode(self, rgb: np.ndarray, q) -> bytes:
        import hific_codec

        return hific_codec.encode(rgb, float(q), model=self.model, effort=self.effort)

    def decode(self, data: bytes) -> np.ndarray:
        import hific_codec

        return hific_codec.decode(data, decoder=self.decoder, realism=self.realism)


def describe(e) -> str:
    """'NIC <name> (model <id>, <weights>[ + context <hash>], <hours> h CPU training[ + <h> h H100])'."""
    ctx = f" + context {e.context['sha256'][:8]}" if e.context else ""
    gpu = f" + {e.gpu_hours:.2f} h H100" if e.gpu_hours else ""
    return (f"NIC {e.name} (model {e.model_id}, {e.sha256[:8]}{ctx}, "
            f"{e.total_train_hours - e.gpu_hours:.1f} h CPU training{gpu})")


@register("nic")
def nic() -> Codec:
    from hific_codec import zoo

    return NicCodec("nic", f"{describe(zoo.get())}, fidelity decoder", NIC_QUALITIES)


@register("nic-e1")
def nic_e1() -> Codec:
    """The default model at encoder effort 1 (hific_codec/refine.py): same decoder, refined latents.
    Four of the twelve qualities, spanning them (as in Bjøntegaard's BD-rate): at about 50 s per Kodak
    encode in a one-thread worker, the full sweep would take over three hours on 2 cores."""
    from hific_codec import refine, zoo

    e = refine.EFFORTS[1]
    return NicCodec("nic-e1", f"{describe(zoo.get())}, fidelity decoder, encoder effort 1 ({e.steps} SGA steps)",
                    (0, 38.75, 73.75, 100), effort=1)


def _earlier(model_id: int) -> Codec:
    from hific_codec import zoo

    e = zoo.get(model_id=model_id)
    return NicCodec(f"nic-m{model_id}", f"{describe(e)}, fidelity decoder", NIC_QUALITIES, model=e.name)


@register("nic-m4")
def nic_m4() -> Codec:
    """Model 4 (no context model) side by side with the default, to measure what the context pays."""
    return _earlier(4)


@register("nic-m5")
def nic_m5() -> Codec:
    """Model 5 (context trained over the frozen model 4) side by side with the default, to measure
    what joint training pays."""
    return _earlier(5)


@register("nic-m7")
def nic_m7() -> Codec:
    """Model 7 (checkerboard context only) side by side with the default, to measure what the
    channel slices pay."""
    return _earlier(7)


# Model 3's quality q is rate level t = -3 + q/10: 0/10/20 are the extrapolated low-rate levels,
# 30..100 the trained levels 0..7 in steps of 7/8.
NIC_QUALITIES = (0, 10, 20, 30, 38.75, 47.5, 56.25, 65, 73.75, 82.5, 91.25, 100)


def _realism(name: str, knob: float) -> Codec:
    from hific_codec import zoo

    e = zoo.get()
    r = zoo.realism_for(e)
    gen = f"{r.name} ({r.sha256[:8]}, {r.train_hours:.1f} h, reads {r.latents} latents)" if r else "none installed"
    return NicCodec(name, f"{describe(e)}, realism decoder at {knob:.1f}: generator {gen}",
                    (0, 10, 20, 30, 47.5, 65), decoder="realism", realism=knob)


@register("nic-realism")
def nic_realism() -> Codec:
    return _realism("nic-realism", 1.0)


@register("nic-realism-half")
def nic_realism_half() -> Codec:
    """The realism knob at 0.5: where the distortion-perception trade-off sits halfway."""
    return _realism("nic-realism-half", 0.5)
