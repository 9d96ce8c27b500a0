"""Creating run directories (stylegan3 style): auto-numbered folders, the resolved config, and a copy of the log.

The files' names are :mod:`aucgan.runs`'s, which also loads runs back."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TextIO

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text
from aucgan.layout.landmarks import Layout
from aucgan.runs import CONFIG_FILE, LAYOUT_FILE, read_run_layout

_RUN_ID_RE = re.compile(r"^(\d+)")


class RunDirError(AucganError, ValueError):
    """A run directory that cannot be created, resumed or written as asked."""


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


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in new:
                out.append(f"{path} (removed)")
            elif key not in old:
                out.append(f"{path} (added)")
            else:
                out.extend(_differences(old[key], new[key], path))
        return out
    return [] if old == new else [f"{prefix or '<root>'}: {old!r} -> {new!r}"]


def write_config(run_dir: str | Path, config: Mapping[str, Any], resume: bool = False, overwrite: bool = False,
                 growable: Collection[str] = (), upgrade: Callable[[dict], dict] | None = None
                 ) -> dict[str, tuple[Any, Any]]:
    """Write the resolved config as ``run_dir/config.json`` (atomically); return the settings that grew.

    An existing, identical config is left alone. A different one is refused (naming the changed keys)
    unless ``overwrite``: a resumed run must not silently change what the earlier steps were trained with.
    The one exception are the top-level numbers named in ``growable`` (a run extended with more ``steps``):
    they may increase, never decrease; the config is then rewritten and ``{key: (old, new)}`` returned.
    ``upgrade`` maps the existing config from an older layout before comparing.
    """
    path = Path(run_dir) / CONFIG_FILE
    try:
        text = json.dumps(config, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise RunDirError(f"config is not JSON-serialisable: {exc}") from None
    grown: dict[str, tuple[Any, Any]] = {}
    if path.is_file() and not overwrite:
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{path}: existing config is not valid JSON ({exc})") from None
        if upgrade is not None:
            old = upgrade(old)
        new = json.loads(text)
        if isinstance(old, Mapping):
            grown = {k: (old[k], new[k]) for k in growable
                     if _is_number(old.get(k)) and _is_number(new.get(k)) and new[k] > old[k]}
            old = {**old, **{k: new[k] for k in grown}}
        if old == new and not grown:
            return {}
        changed = _differences(old, new)
        if changed:
            shown = "; ".join(changed[:8]) + (f"; and {len(changed) - 8} more" if len(changed) > 8 else "")
            what = "the resumed run" if resume else "this run directory"
            hint = "".join(f"; {k} may grow but not shrink" for k in growable
                           if any(c.startswith(f"{k}:") for c in changed))
            raise RunDirError(f"{path}: {what} was configured differently ({shown}){hint}; keep the original "
                              "settings or start a new run")
    atomic_write_text(path, text)
    return grown


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def write_run_layout(run_dir: str | Path, layout: Layout | None) -> None:
    """Record the training data's layout in ``RUN/layout.json`` (nothing for the built-in layout). A resumed run
    must keep its layout: a different one is an error."""
    if layout is None:
        return
    path = Path(run_dir) / LAYOUT_FILE
    if path.is_file():
        if read_run_layout(run_dir) != layout:
            raise RunDirError(f"{path}: the run was trained in layout {read_run_layout(run_dir).name!r}; the data "
                              f"set's layout {layout.name!r} differs (a run keeps one map space)")
        return
    atomic_write_text(path, json.dumps(layout.to_json(), indent=1))

