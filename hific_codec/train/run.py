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

    def train(self, meta: dict, steps: int, minutes: float, step: Callable[[int], dict],
              save: Callable[[dict], None], every: int, report: Callable[[], dict] | None = None) -> int:
        """The loop the plugin trainers share.  ``step(k)`` runs training step k (its schedule, batch
        and update) and returns numbers to log; after every ``every``-th step and the last, one
        record with the step, the cumulative hours, those numbers and ``report()`` (validation) is
        logged.  ``save(meta)`` writes the checkpoint, with ``meta["step"]`` and the cumulative
        ``meta["seconds"]`` current, every few minutes and at the end.  Runs from ``meta["step"]``
        until ``steps`` or for ``minutes``; returns the step reached."""
        t0, seconds0, k = time.time(), meta["seconds"], meta["step"]

        def checkpoint() -> None:
            meta.update(step=k, seconds=seconds0 + time.time() - t0)
            save(meta)

        while k < steps and time.time() - t0 < minutes * 60:
            logs = step(k)
            k += 1
            if k % every == 0 or k == steps:
                self.log({"step": k, "hours": (seconds0 + time.time() - t0) / 3600, **logs, **(report() if report else {})})
            self.tick(checkpoint)
        self.finish(checkpoint, k)
        return k


def tail_cosine(step: int, steps: int, lr: float, final: float = 0.05, tail: float = 0.3) -> float:
    """``lr`` until the last ``tail`` of ``steps``, then a cosine decay to ``final`` x ``lr``."""
    start = (1 - tail) * steps
    if step < start:
        return lr
    f = min(1.0, (step - start) / max(1.0, tail * steps))
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * f)))


def lr_at(step: int, tc) -> float:
    """`tail_cosine` from ``tc.lr`` to ``tc.lr_final`` over the last ``tc.decay_frac`` of
    ``tc.steps`` (any training config with those four fields), after a linear warm-up over
    ``tc.warmup`` steps where the config has one."""
    warmup = getattr(tc, "warmup", 0)
    if step < warmup:
        return tc.lr * (step + 1) / warmup
    return tail_cosine(step, tc.steps, tc.lr, tc.lr_final / tc.lr, tc.decay_frac)
