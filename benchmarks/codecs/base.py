from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class CodecUnavailable(RuntimeError):
    """The codec cannot run here (missing binary or library); the message says how to get it."""


@dataclass
class Codec:
    name: str
    description: str
    qualities: tuple  # the sweep, in the codec's own quality unit

    def check(self) -> None:
        """Raise CodecUnavailable when the codec cannot run on this machine."""

    def encode(self, rgb: np.ndarray, q) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError
