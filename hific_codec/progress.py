"""What a long encode reports to its ``progress`` callback (the CLI draws it as a status line)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    iteration: int
    iterations: int
    bpp: float  # the model's own rate estimate (nan where the stage has none)
    psnr: float  # of the current reconstruction, as optimised (nan where not computed)
    seconds: float
