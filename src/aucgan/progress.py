"""Progress of long jobs: a tqdm bar on a terminal, a plain line every ``interval`` seconds elsewhere (logs,
spawned jobs that share a terminal), nothing when quiet.

Every long job (training, evaluation of many checkpoints, diagnosis, data preparation) reports through
:class:`Progress`, so each shows the same things: its label, where it is, its rate and the time left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Literal, TextIO

Mode = Literal["auto", "bar", "lines", "off"]


def format_seconds(seconds: float) -> str:
    """``3725`` -> ``"1h02m"``, ``125`` -> ``"2m05s"``, ``7`` -> ``"7s"``."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """Where a job of ``total`` units stands (``unit``: "step", "checkpoint", "sample", ...).

    ``images_per_unit`` adds an images/s figure (training: images each step consumes). ``mode``: ``"bar"``
    (tqdm), ``"lines"`` (one line every ``interval`` seconds and at the end, prefixed with ``label``: readable
    in logs and when several processes write to one terminal), ``"off"``, or ``"auto"``: a bar on a terminal,
    lines otherwise. ``initial`` is where a resumed job starts (its rate counts only what this process did).
    """

    def __init__(self, total: int, label: str, *, unit: str = "step", initial: int = 0,
                 images_per_unit: float = 0.0, mode: Mode = "auto", stream: TextIO | None = None,
                 interval: float = 30.0) -> None:
        self.total, self.label, self.unit = int(total), label, unit
        self.position = int(initial)
        self.images_per_unit = float(images_per_unit)
        self.stream = stream if stream is not None else sys.stderr
        self.interval = float(interval)
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode: Mode = mode
        self._start_pos, self._t0 = self.position, time.perf_counter()
        self._t_last_line = self._t0
        self._postfix: dict[str, str] = {}
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.position, desc=label, unit=unit, dynamic_ncols=True,
                             file=self.stream)

    @property
    def rate(self) -> float:
        """Units per second since this process started the job (0 before the first unit)."""
        done = self.position - self._start_pos
        elapsed = time.perf_counter() - self._t0
        return done / elapsed if done > 0 and elapsed > 0 else 0.0

    def seconds_left(self) -> float | None:
        """Estimated seconds to ``total`` at the current rate (None before the first unit)."""
        r = self.rate
        return (self.total - self.position) / r if r > 0 else None

    def status(self) -> str:
        """One line: label, position, share done, rate, images/s, time left and the last postfix values."""
        share = 100.0 * self.position / self.total if self.total > 0 else 100.0
        parts = [f"{self.label}: {self.unit} {self.position}/{self.total} ({share:.0f}%)"]
        r = self.rate
        if r > 0:
            parts.append(f"{r * self.images_per_unit:.1f} img/s" if self.images_per_unit > 0
                         else f"{r:.2f} {self.unit}/s")
        left = self.seconds_left()
        if left is not None and self.position < self.total:
            parts.append(f"{format_seconds(left)} left")
        elif self.position >= self.total:
            parts.append(f"done in {format_seconds(time.perf_counter() - self._t0)}")
        parts += [f"{k} {v}" for k, v in self._postfix.items()]
        return ", ".join(parts)

    def update(self, n: int = 1, postfix: Mapping[str, float | str] | None = None) -> None:
        """Advance by ``n`` units; ``postfix`` values (losses, ...) are shown beside the rate."""
        self.position += n
        if postfix:
            self._postfix = {k: (f"{v:.3g}" if isinstance(v, float) else str(v)) for k, v in postfix.items()}
        if self._bar is not None:
            self._bar.update(n)
            shown = dict(self._postfix)
            if self.images_per_unit > 0 and self.rate > 0:
                shown["img/s"] = f"{self.rate * self.images_per_unit:.1f}"
            if shown:
                self._bar.set_postfix(shown, refresh=False)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self._t_last_line >= self.interval or self.position >= self.total:
                self._t_last_line = now
                print(self.status(), file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar (a lines-mode job that stopped early prints where it stopped)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines" and self.position < self.total and self.position > self._start_pos:
            print(self.status(), file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
