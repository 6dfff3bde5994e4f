"""The context models' configurations, without torch (the torch-free decoder reads them too):
ContextConfig for the checkerboard (models/context.py), ChannelContextConfig for the channel
slices over it (models/channel_context.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bitstream.nicfile import V1_0, V1_2, V1_3, V1_4


@dataclass(frozen=True)
class ContextConfig:
    M: int = 128  # latent channels (the base model's)
    channels: int = 128  # output channels of g_cm
    hidden: int = 256  # hidden channels of g_ep
    kernel: int = 5



@dataclass(frozen=True)
class ChannelContextConfig:
    base: ContextConfig = field(default_factory=ContextConfig)  # the checkerboard underneath
    slices: tuple[int, ...] = (16, 16, 32, 64)  # channels per slice, in coding order
    order: tuple[int, ...] = ()  # latent channel of each coding position; () = 0..M-1
    features: int = 64  # output channels of each c_k
    hidden: int = 128  # hidden channels of each head
    kernel: int = 5

    def __post_init__(self):
        M = self.base.M
        if sum(self.slices) != M or min(self.slices) < 1:
            raise ValueError(f"slices {self.slices} do not partition {M} channels")
        if self.order and sorted(self.order) != list(range(M)):
            raise ValueError("order is not a permutation of the latent channels")

    @property
    def coding_order(self) -> list[int]:
        return list(self.order) or list(range(self.base.M))

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """(first, end) coding positions of each slice."""
        out, a = [], 0
        for c in self.slices:
            out.append((a, a + c))
            a += c
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "slices": list(self.slices), "order": self.coding_order}

    @classmethod
    def from_dict(cls, d: dict) -> ChannelContextConfig:
        return cls(base=ContextConfig(**d["base"]), slices=tuple(d["slices"]), order=tuple(d["order"]),
                   features=d["features"], hidden=d["hidden"], kernel=d["kernel"])


# The container version of files coded with each context kind (models/contexts.py's KINDS use it)
VERSIONS = {"checkerboard": V1_3, "channel": V1_4}


def format_version(gs_form: str, context_kind: str | None) -> tuple[int, int]:
    """The lowest container version whose decoders render files of a model with this synthesis
    form and context kind (None: no context model)."""
    if context_kind is not None:
        return VERSIONS[context_kind]
    return V1_0 if gs_form == "transposed" else V1_2
