"""Context models by stable kind name (a zoo entry's ``context["kind"]``; absent means
"checkerboard", the only kind before model 8): the float network, its exact twin, and the
lowest container version whose decoders know its coding passes."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import nn

from bitstream.nicfile import V1_3, V1_4

from .channel_context import ChannelContext, ChannelContextConfig
from .context import CheckerboardContext, ContextConfig
from .int_channel_context import IntChannelContext
from .int_context import IntContext


class Kind(NamedTuple):
    build: Callable[[dict], nn.Module]  # config -> untrained float network
    exact: Callable[[nn.Module], object]  # trained network -> fixed-point twin the coder runs
    version: tuple[int, int]  # container version of files coded with it


KINDS = {
    "checkerboard": Kind(lambda config: CheckerboardContext(ContextConfig(**config)), IntContext, V1_3),
    "channel": Kind(lambda config: ChannelContext(ChannelContextConfig.from_dict(config)), IntChannelContext, V1_4),
}


def kind_of(module: nn.Module) -> str:
    return "channel" if isinstance(module, ChannelContext) else "checkerboard"


def build(kind: str, config: dict) -> nn.Module:
    """An untrained context model of ``kind`` with ``config`` (load its weights next)."""
    if kind not in KINDS:
        raise ValueError(f"unknown context kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind].build(config)


def exact(module: nn.Module):
    """The fixed-point twin the coder evaluates (IntContext or IntChannelContext)."""
    return KINDS[kind_of(module)].exact(module)


def version(module: nn.Module) -> tuple[int, int]:
    """The container version of files whose latents are coded with ``module``."""
    return KINDS[kind_of(module)].version
