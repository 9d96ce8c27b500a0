"""Training checkpoints that never unpickle: safetensors for tensors, JSON for everything else.

A checkpoint is a folder ``CKPT_ROOT/step-000100/`` (``CKPT_ROOT`` is usually ``RUN/checkpoints``)::

    meta.json                  format marker, step, module/optimizer names, versions, the caller's meta
    <module>.safetensors       one state dict per module (G, G_ema, D, ...)
    optim-<name>.safetensors   the optimizer state's tensors (Adam moments, ``step`` tensors)
    optim-<name>.json          the rest of ``optimizer.state_dict()`` with tensors replaced by references
    rng.safetensors, rng.json  torch CPU (and CUDA) RNG states; numpy and python ``random`` states

Writing is atomic: everything goes into a hidden temporary folder beside the target, which is renamed
into place only when complete; then the ``latest`` pointer file is replaced atomically and checkpoints
beyond the newest ``keep`` are deleted. A crash mid-write leaves the previous checkpoint and pointer as
they were (and at most a hidden ``.tmp-*`` folder, removed by the next save).
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.optim import Optimizer

from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text
from aucgan.rundir.files import AUNET_WEIGHTS, RunError

FORMAT = "aucgan-checkpoint"
FORMAT_VERSION = 1
META_FILE = "meta.json"
LATEST_FILE = "latest"
CKPT_DIR = "checkpoints"           # RUN/checkpoints
_STEP_RE = re.compile(r"^step-(\d+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# optimizer state entries shaped like their parameter (Adam(W), SGD, RMSprop, Adagrad, Adadelta)
_PARAM_SHAPED = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "acc_delta",
                 "sum")


class CheckpointError(AucganError, ValueError):
    """A folder that is not an aucgan checkpoint, or one that does not fit the modules/optimizers given."""


# ------------------------------------------------------------------------------------------ structure codec
def _encode(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-safe form of ``obj``: tensors move to ``tensors`` (keyed by their path) and become references;
    tuples and dicts with non-string keys are tagged so decoding restores them exactly."""
    if isinstance(obj, torch.Tensor):
        key = path or "_"
        if key in tensors:  # a string key containing "." may repeat a nested path
            key = f"{key}#{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, f"{path}.{k}" if path else k, tensors) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CheckpointError(f"cannot store key {k!r} at {path or '<root>'}: only str/int keys")
            items.append([k, _encode(v, f"{path}.{k}" if path else str(k), tensors)])
        return {"__dict__": items}
    raise CheckpointError(f"cannot store a {type(obj).__name__} at {path or '<root>'} in a checkpoint "
                          "(tensors, numbers, strings, lists, tuples and dicts only)")


def _decode(obj: Any, tensors: Mapping[str, torch.Tensor], where: Path) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, where) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            key = obj["__tensor__"]
            if key not in tensors:
                raise CheckpointError(f"{where}: tensor {key!r} is referenced but missing from the "
                                      "safetensors file")
            return tensors[key]
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors, where) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: _decode(v, tensors, where) for k, v in obj["__dict__"]}
        return {k: _decode(v, tensors, where) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------------------------- helpers
def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    try:
        text = json.dumps(data, indent=1, allow_nan=True)
    except TypeError as exc:
        raise CheckpointError(f"checkpoint meta is not JSON-serialisable: {exc}") from None
    path.write_text(text)
    _fsync(path)


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file(tensors, str(path))
    _fsync(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent}: checkpoint is incomplete (no {path.name})") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def _read_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: checkpoint is incomplete (no {path.name})")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({exc})") from None


def _check_names(kind: str, names: Mapping[str, Any]) -> None:
    for name in names:
        if not _NAME_RE.match(name):
            raise CheckpointError(f"{kind} name {name!r} must be letters, digits, '_', '.', '-'")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        aucgan_version = version("aucgan")
    except PackageNotFoundError:
        aucgan_version = "unknown"
    return {"aucgan": aucgan_version, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _module_state(module: nn.Module) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors sharing storage (tied weights) and non-contiguous views
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------------------------- RNG
def _capture_rng(folder: Path) -> None:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    _write_tensors(folder / "rng.safetensors", tensors)
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    _write_json(folder / "rng.json", {
        "numpy": {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    })


def _restore_rng(folder: Path) -> None:
    tensors = _read_tensors(folder / "rng.safetensors", "cpu")
    data = _read_json(folder / "rng.json")
    try:
        torch.set_rng_state(tensors["torch_cpu"])
        if torch.cuda.is_available():
            saved = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
            for i, state in enumerate(saved[:torch.cuda.device_count()]):
                torch.cuda.set_rng_state(state, i)
        n = data["numpy"]
        np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
        p = data["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: invalid RNG state ({exc})") from None


# ---------------------------------------------------------------------------------------------- listing
def _ckpt_root(path: str | Path) -> Path:
    """``RUN/checkpoints`` when given a run directory, else the folder itself."""
    path = Path(path)
    return path / CKPT_DIR if (path / CKPT_DIR).is_dir() else path


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a complete aucgan checkpoint folder (its meta.json carries the format marker)."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == FORMAT
    except (json.JSONDecodeError, AttributeError, OSError):
        return False


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders (``step-NNNNNN``) of a run directory (or a checkpoints folder), oldest
    first."""
    root = _ckpt_root(run_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_RE.match(child.name)
        if match and child.is_dir() and is_checkpoint(child):
            found.append((int(match.group(1)), child))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run directory (following its ``latest`` pointer), or None.

    Accepts a run directory, its ``checkpoints`` folder, or a checkpoint folder itself.
    """
    path = Path(run_dir)
    if is_checkpoint(path):
        return path
    root = _ckpt_root(path)
    pointer = root / LATEST_FILE
    if pointer.is_file():
        target = root / pointer.read_text().strip()
        if _STEP_RE.match(target.name) and is_checkpoint(target):
            return target
    found = list_checkpoints(root)
    return found[-1] if found else None


# ------------------------------------------------------------------------------------------------- save
def save_checkpoint(path: str | Path, modules: Mapping[str, nn.Module], optimizers: Mapping[str, Optimizer],
                    meta: Mapping[str, Any], *, step: int | None = None, keep: int | None = 3,
                    rng: bool = True) -> Path:
    """Write a checkpoint folder ``path/step-NNNNNN`` atomically and return it.

    ``path`` is the checkpoints folder (e.g. ``RUN/checkpoints``); ``step`` defaults to ``meta["step"]``.
    ``meta`` must be JSON-serialisable (step, config, EMA counters, ...); it is returned by
    :func:`load_checkpoint`. ``rng`` stores the global torch/numpy/python RNG states. Afterwards only the
    newest ``keep`` checkpoints are kept (``None`` or 0 keeps all). Saving the same step again replaces it.
    """
    root = Path(path)
    if step is None:
        if "step" not in meta:
            raise CheckpointError("save_checkpoint needs step= or meta['step']")
        step = meta["step"]
    step = int(step)
    if step < 0:
        raise CheckpointError(f"checkpoint step must be >= 0, got {step}")
    _check_names("module", modules)
    _check_names("optimizer", optimizers)
    clash = sorted(set(modules) & {f"optim-{n}" for n in optimizers} | ({"rng", "meta"} & set(modules)))
    if clash:
        raise CheckpointError(f"module names {clash} clash with checkpoint files")
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-step-*"):
        shutil.rmtree(stale, ignore_errors=True)
    name = f"step-{step:06d}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        for mod_name, module in modules.items():
            _write_tensors(tmp / f"{mod_name}.safetensors", _module_state(module))
        for opt_name, opt in optimizers.items():
            tensors: dict[str, torch.Tensor] = {}
            structure = _encode(opt.state_dict(), "", tensors)
            _write_tensors(tmp / f"optim-{opt_name}.safetensors", tensors)
            _write_json(tmp / f"optim-{opt_name}.json", structure)
        if rng:
            _capture_rng(tmp)
        user_meta = dict(meta)
        user_meta["step"] = step
        _write_json(tmp / META_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION, "step": step,
                                      "modules": list(modules), "optimizers": list(optimizers), "rng": rng,
                                      "versions": _versions(), "meta": user_meta})
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-old-", dir=root))
            os.replace(final, old / name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync(root)
    atomic_write_text(root / LATEST_FILE, name + "\n")
    if keep:
        for old_ckpt in list_checkpoints(root)[:-keep]:
            if old_ckpt != final:
                shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


# ------------------------------------------------------------------------------------------------- load
def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The whole ``meta.json`` of a checkpoint folder (format, step, names, versions, ``meta``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not (folder / META_FILE).is_file():
        hint = " (a run directory? use latest_checkpoint(run_dir))" if (folder / CKPT_DIR).is_dir() else ""
        raise CheckpointError(f"{folder}: not an aucgan checkpoint (no {META_FILE}){hint}")
    data = _read_json(folder / META_FILE)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: not an aucgan checkpoint ({META_FILE} lacks format={FORMAT!r})")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {data['format_version']} is newer than this "
                              f"aucgan understands ({FORMAT_VERSION})")
    return data


def _few(names: list[str]) -> str:
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _load_module(module: nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        parts = ([f"missing keys: {_few(missing)}"] if missing else []) + (
            [f"unexpected keys: {_few(extra)}"] if extra else [])
        raise CheckpointError(f"{where}: weights do not fit the module ({'; '.join(parts)})")
    wrong = [f"{k} {tuple(state[k].shape)} vs module {tuple(v.shape)}" for k, v in own.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{where}: shape mismatch: {_few(wrong)}")
    module.load_state_dict(state, strict=True)


def load_weights(module: nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> None:
    """Load one safetensors state dict (a checkpoint's ``<module>.safetensors``, an AU estimator's weights) into
    ``module``; :class:`CheckpointError` names missing/unexpected keys and mismatched shapes."""
    path = Path(path)
    _load_module(module, _read_tensors(path, map_location), path)


def _load_optimizer(opt: Optimizer, state: dict[str, Any], where: Path) -> None:
    groups, own_groups = state.get("param_groups", []), opt.state_dict()["param_groups"]
    sizes, own_sizes = [len(g.get("params", [])) for g in groups], [len(g["params"]) for g in own_groups]
    if sizes != own_sizes:
        raise CheckpointError(f"{where}: optimizer has parameter groups of sizes {own_sizes}, "
                              f"the checkpoint {sizes}")
    params = [p for g in opt.param_groups for p in g["params"]]
    ids = [i for g in groups for i in g["params"]]
    by_id = dict(zip(ids, params))
    for pid, entry in state.get("state", {}).items():
        if pid not in by_id:
            raise CheckpointError(f"{where}: state for unknown parameter {pid}")
        for key, value in entry.items():
            if key in _PARAM_SHAPED and isinstance(value, torch.Tensor) and value.shape != by_id[pid].shape:
                raise CheckpointError(f"{where}: state {key} of parameter {pid} has shape "
                                      f"{tuple(value.shape)}, the parameter {tuple(by_id[pid].shape)}")
    try:
        opt.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{where}: optimizer state does not fit ({exc})") from None


def load_checkpoint(path: str | Path, modules: Mapping[str, nn.Module],
                    optimizers: Mapping[str, Optimizer] | None = None, restore_rng: bool = True,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load the named modules (and optimizers, and the global RNG states) from a checkpoint folder.

    Reads safetensors and JSON only (nothing is unpickled). Every requested name must be in the
    checkpoint; the checkpoint may hold more (e.g. load only ``G_ema``). Raises :class:`CheckpointError`
    naming the missing/unexpected keys or mismatched shapes. Returns the ``meta`` given at save time
    (with ``step``). ``map_location`` is where tensors are read to before being copied into the modules.
    """
    folder = Path(path)
    data = read_checkpoint_meta(folder)
    optimizers = optimizers or {}
    for kind, wanted, saved in (("module", modules, data.get("modules", [])),
                                ("optimizer", optimizers, data.get("optimizers", []))):
        absent = [n for n in wanted if n not in saved]
        if absent:
            raise CheckpointError(f"{folder}: no {kind} {_few(absent)} in the checkpoint "
                                  f"(it has: {', '.join(saved) or 'none'})")
    for name, module in modules.items():
        load_weights(module, folder / f"{name}.safetensors", map_location)
    for name, opt in optimizers.items():
        file = folder / f"optim-{name}.safetensors"
        structure = _read_json(folder / f"optim-{name}.json")
        _load_optimizer(opt, _decode(structure, _read_tensors(file, map_location), file), file)
    if restore_rng:
        if not data.get("rng"):
            raise CheckpointError(f"{folder}: saved without RNG state; pass restore_rng=False")
        _restore_rng(folder)
    meta = dict(data.get("meta", {}))
    meta.setdefault("step", data.get("step", 0))
    return meta


# ------------------------------------------------------------------------------------- a run's checkpoints
def checkpoint_step(checkpoint: str | Path) -> int:
    """The step a checkpoint folder was saved at (from its ``meta.json``)."""
    return int(read_checkpoint_meta(checkpoint).get("step", 0))


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The steps of the run's complete checkpoints, oldest first (empty before the first save)."""
    return [checkpoint_step(c) for c in list_checkpoints(run_dir)]


def find_checkpoint(run_dir: str | Path, checkpoint: int | str | Path | None = None) -> Path:
    """The checkpoint folder of a run: the latest (``None``), the one saved at step ``checkpoint`` (an int, or a
    string of digits), or ``checkpoint`` itself when it is a checkpoint folder. A step the run does not have is
    an error listing the steps it has."""
    run_dir = Path(run_dir)
    if checkpoint is None:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise RunError(f"{run_dir}: the run has no checkpoint yet")
        return found
    if isinstance(checkpoint, str) and checkpoint.strip().isdigit():
        checkpoint = int(checkpoint)
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        by_step = {checkpoint_step(c): c for c in list_checkpoints(run_dir)}
        if checkpoint not in by_step:
            have = ", ".join(str(s) for s in sorted(by_step)) or "none yet"
            raise RunError(f"{run_dir}: no checkpoint at step {checkpoint} (the run has steps: {have})")
        return by_step[checkpoint]
    folder = Path(checkpoint)
    if not is_checkpoint(folder):
        raise RunError(f"{folder}: not a checkpoint folder (pass a step number or a {CKPT_DIR}/step-NNNNNN folder)")
    return folder


# ------------------------------------------------------------------------------------- AU-estimator weights
def save_aunet_weights(run_dir: str | Path, net: torch.nn.Module) -> Path:
    """Write the AU estimator's weights as ``RUN/aunet.safetensors`` (atomically)."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    return atomic_write(Path(run_dir) / AUNET_WEIGHTS, lambda p: save_file(state, str(p)))


def load_aunet_weights(net: torch.nn.Module, run_dir: str | Path) -> None:
    """Load ``RUN/aunet.safetensors`` into ``net`` (an error when the run has none)."""
    weights = Path(run_dir) / AUNET_WEIGHTS
    if not weights.is_file():
        raise RunError(f"{run_dir}: no {AUNET_WEIGHTS} (did `aucgan train-au` finish?)")
    load_weights(net, weights)
