"""The files of a run directory: their names and the one writer and one reader of each.

``config.json`` (:func:`write_config` / :func:`read_config`), ``data.json`` (:func:`record_data` /
:func:`recorded_data_path`), ``layout.json`` (:func:`write_run_layout` / :func:`read_run_layout`), and any
other JSON file of a run (:func:`read_json`); ``stats.jsonl`` is :mod:`aucgan.rundir.stats`'s; checkpoints and
the AU estimator's weights are :mod:`aucgan.rundir.checkpoints`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text
from aucgan.layout.landmarks import Layout, load_layout

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
LOG_FILE = "log.txt"
STATS_FILE = "stats.jsonl"
SAMPLES_DIR = "samples"
AUNET_WEIGHTS = "aunet.safetensors"
AUNET_METRICS = "metrics.json"
#: The map space a run was trained in, when its data set names one (FLAME UV, ...): edits of the run's
#: generator compute footprints in it. Absent for the built-in layout.
LAYOUT_FILE = "layout.json"
#: A ``deca`` run's decoder architecture (its constructor arguments).
DECODER_FILE = "decoder.json"


class RunError(AucganError, ValueError):
    """A folder that is not the run asked for, or a run file that cannot be read."""


class RunDirError(AucganError, ValueError):
    """A run directory that cannot be created, resumed or written as asked."""


def read_json(path: str | Path, what: str) -> Any:
    """Parse one JSON file of a run; a missing or unreadable file is a :class:`RunError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not an aucgan {what} (no {path.name})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


def read_object(path: str | Path, what: str) -> dict[str, Any]:
    """:func:`read_json` of a file that must hold a JSON object."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise RunError(f"{path}: expected a JSON object")
    return data


# --------------------------------------------------------------------------------------------- config
def read_config(run_dir: str | Path, what: str = "run") -> dict[str, Any]:
    """The config a run wrote before it started, as stored (a :class:`RunError` when missing or malformed)."""
    return read_object(Path(run_dir) / CONFIG_FILE, what)


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


# --------------------------------------------------------------------------------------------- data record
def record_data(run_dir: str | Path, data: str | Path) -> Path:
    """Write ``RUN/data.json`` naming the data set (absolute path) unless the run records one already."""
    record = Path(run_dir) / DATA_FILE
    if not record.is_file():
        atomic_write_text(record, json.dumps({"path": str(Path(data).resolve())}))
    return record


def recorded_data_path(run_dir: str | Path) -> Path | None:
    """The data set a run recorded in ``RUN/data.json``; None when it records none, a :class:`RunError` when the
    record is malformed."""
    record = Path(run_dir) / DATA_FILE
    if not record.is_file():
        return None
    data = read_json(record, "data record")
    path = data.get("path") if isinstance(data, dict) else None
    if not isinstance(path, str) or not path:
        raise RunError(f"{record}: expected {{\"path\": \"DATASET\"}}, got {json.dumps(data)[:80]}")
    return Path(path)


# ------------------------------------------------------------------------------------------------ layout
def read_run_layout(run_dir: str | Path) -> Layout | None:
    """The layout ``RUN/layout.json`` records, or None (a run in the built-in layout)."""
    path = Path(run_dir) / LAYOUT_FILE
    return load_layout(path) if path.is_file() else None


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

