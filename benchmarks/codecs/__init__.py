"""Codec registry: stable names -> adapters with ``encode(rgb, q) -> bytes`` and ``decode(bytes) -> rgb``."""
from __future__ import annotations

from collections.abc import Callable

from .base import Codec, CodecUnavailable

REGISTRY: dict[str, Callable[[], Codec]] = {}


def register(name: str):
    def deco(factory: Callable[[], Codec]):
        REGISTRY[name] = factory
        return factory

    return deco


def get(name: str) -> Codec:
    if name not in REGISTRY:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]()


from . import bpg, nic, pillow_codecs  # noqa: E402,F401  (register the built-ins)

__all__ = ["REGISTRY", "Codec", "CodecUnavailable", "get", "register"]
