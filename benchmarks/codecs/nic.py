"""NIC itself, through the public API (real `.nic` files, container included)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import register
from .base import Codec


@dataclass
class NicCodec(Codec):
    model: str | None = None

    def check(self) -> None:
        from hific_codec import codec

        codec.load(self.model)  # load once, outside the timings

    def encode(self, rgb: np.ndarray, q) -> bytes:
        import hific_codec

        return hific_codec.encode(rgb, float(q), model=self.model)

    def decode(self, data: bytes) -> np.ndarray:
        import hific_codec

        return hific_codec.decode(data)


@register("nic")
def nic() -> Codec:
    from hific_codec import zoo

    e = zoo.get()
    return NicCodec("nic", f"NIC {e.name} ({e.sha256[:8]}, {e.train_hours:.1f} h CPU training), fidelity decoder",
                    (0, 12, 25, 37, 50, 62, 75, 87, 100))
