"""Creating run directories (stylegan3 style): auto-numbered folders and a copy of the log."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, TextIO

from aucgan.rundir.files import RunDirError

_RUN_ID_RE = re.compile(r"^(\d+)")


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned


def next_run_id(root: str | Path) -> int:
    """One more than the largest number any entry of ``root`` starts with (0 for an empty/missing root)."""
    root = Path(root)
    if not root.is_dir():
        return 0
    ids = [int(m.group(1)) for p in root.iterdir() if (m := _RUN_ID_RE.match(p.name))]
    return max(ids, default=-1) + 1


def make_run_dir(root: str | Path = "runs", name: str | None = None, explicit: str | Path | None = None,
                 resume: bool = False) -> Path:
    """Create (or, with ``resume``, reopen) the folder a training run writes into, and return it.

    ``explicit`` given: that folder; it must be missing or empty unless ``resume`` (then it must exist).
    Otherwise a new ``root/NNNNN-name`` numbered one past the largest existing number (never reused).
    """
    if explicit is not None:
        run = Path(explicit)
        if resume:
            if not run.is_dir():
                raise RunDirError(f"cannot resume: run directory {run} does not exist")
            return run
        if run.exists() and (not run.is_dir() or any(run.iterdir())):
            raise RunDirError(f"run directory {run} already exists and is not empty; pass --resume to "
                              "continue that run or choose another --run-dir")
        run.mkdir(parents=True, exist_ok=True)
        return run
    if resume:
        raise RunDirError("resuming needs the run directory to continue (--run-dir)")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    suffix = f"-{_safe_name(name)}" if name and _safe_name(name) else ""
    run_id = next_run_id(root)
    while True:
        run = root / f"{run_id:05d}{suffix}"
        try:
            run.mkdir()
            return run
        except FileExistsError:  # another process took this number meanwhile
            run_id = max(run_id + 1, next_run_id(root))


class _Tee:
    """A text stream that forwards to ``stream`` and copies complete lines to the logger's file.

    A carriage return (progress bars) discards the partial line, so the file gets each line's final state.
    """

    def __init__(self, stream: TextIO, logger: Logger) -> None:
        self._stream = stream
        self._logger = logger
        self._partial = ""

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._logger._write_line(line.rsplit("\r", 1)[-1])
        return len(text) if n is None else n

    def flush(self) -> None:
        self._stream.flush()
        self._logger._flush()

    def finish(self) -> None:
        tail = self._partial.rsplit("\r", 1)[-1]
        if tail:
            self._logger._write_line(tail)
        self._partial = ""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Logger:
    """Copy everything printed to stdout/stderr into ``path`` (appending) while still printing it.

    Use as a context manager (``with Logger(run_dir / "log.txt"):``) or call :meth:`close`; the original
    streams are restored on exit.
    """

    def __init__(self, path: str | Path, mode: str = "a") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open(mode, encoding="utf-8")
        self._stdout, self._stderr = sys.stdout, sys.stderr
        self._tees = (_Tee(sys.stdout, self), _Tee(sys.stderr, self))
        sys.stdout, sys.stderr = self._tees

    def _write_line(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Write any unfinished line, restore stdout/stderr and close the file."""
        if self._file is None:
            return
        for tee in self._tees:
            tee.finish()
        if sys.stdout is self._tees[0]:
            sys.stdout = self._stdout
        if sys.stderr is self._tees[1]:
            sys.stderr = self._stderr
        self._file.close()
        self._file = None

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
