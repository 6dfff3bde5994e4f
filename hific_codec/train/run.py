"""A training run's folder: the resumable checkpoint, the JSONL learning curve, periodic saves."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path


class Run:
    def __init__(self, folder: str | Path, save_minutes: float = 5.0):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.last = self.dir / "last.safetensors"
        self._every = save_minutes * 60
        self._saved = time.time()
        self._log = None

    def log(self, rec: dict, note: str = "") -> None:
        """Append one record to log.jsonl and print it."""
        if self._log is None:
            self._log = open(self.dir / "log.jsonl", "a")  # noqa: SIM115 (open for the whole run)
        self._log.write(json.dumps(rec) + "\n")
        self._log.flush()
        print(rec, note, flush=True)

    def tick(self, save: Callable[[], None]) -> None:
        """Save when the last save is older than the interval (a killed run loses at most that)."""
        if time.time() - self._saved > self._every:
            save()
            self._saved = time.time()

    def finish(self, save: Callable[[], None], step: int) -> None:
        save()
        print(f"saved {self.last} at step {step}", flush=True)


def lr_at(step: int, tc) -> float:
    """Constant ``tc.lr``, then a cosine decay to ``tc.lr_final`` over the last ``tc.decay_frac``
    of ``tc.steps`` (any training config with those four fields), after a linear warm-up over
    ``tc.warmup`` steps where the config has one."""
    start = tc.steps * (1 - tc.decay_frac)
    warmup = getattr(tc, "warmup", 0)
    if step < warmup:
        return tc.lr * (step + 1) / warmup
    if step < start:
        return tc.lr
    f = min(1.0, (step - start) / max(1, tc.steps - start))
    return tc.lr_final + 0.5 * (tc.lr - tc.lr_final) * (1 + math.cos(math.pi * f))
