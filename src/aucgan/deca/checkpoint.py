"""Reading ``D_detail`` out of a DECA / EMOCA checkpoint without running code from the file.

DECA's ``deca_model.tar`` is a ``torch.save``-d dict of state dicts (``E_flame``, ``E_detail``, ``D_detail``;
training checkpoints add ``opt``, ``global_step``, ``batch_size``). It is read with
``torch.load(..., weights_only=True)``, which refuses anything but tensors and plain containers; a file that
needs more is refused with a message saying so. Also accepted: the ``D_detail`` state dict itself, and a
``state_dict`` whose keys carry a prefix ending in ``D_detail.`` (EMOCA's ``deca.D_detail.``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from aucgan.errors import AucganError

DETAIL_KEY = "D_detail"
DECA_NUM_BLOCKS = 5
_CONV_RE = re.compile(r"^conv_blocks\.(\d+)\.weight$")
_GLOBAL_RE = re.compile(r"Unsupported global: GLOBAL (\S+)")
_DETAIL_RE = re.compile(r"WeightsUnpickler error:\s*([^\n]+(?:\n[^\n]+)?)")


def deca_keys(num_blocks: int = DECA_NUM_BLOCKS) -> tuple[str, ...]:
    """The state-dict keys of DECA's detail decoder with ``num_blocks`` upsampling blocks (5 in DECA)."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["l1.0.weight", "l1.0.bias"] + [f"conv_blocks.0.{p}" for p in bn]
    for i in range(num_blocks):
        keys += [f"conv_blocks.{4 * i + 2}.weight", f"conv_blocks.{4 * i + 2}.bias"]
        keys += [f"conv_blocks.{4 * i + 3}.{p}" for p in bn]
    keys += [f"conv_blocks.{4 * num_blocks + 1}.weight", f"conv_blocks.{4 * num_blocks + 1}.bias"]
    return tuple(keys)


class DecaCheckpointError(AucganError, ValueError):
    """A file or state dict that does not hold a DECA detail decoder in DECA's key layout."""


def load_deca_file(path: str | Path) -> Mapping:
    """The object in a DECA/EMOCA checkpoint file, read with ``torch.load(weights_only=True)`` on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise DecaCheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ... here
        found = _GLOBAL_RE.search(str(exc))
        if found:
            raise DecaCheckpointError(f"{path}: refused: the file needs {found.group(1)}, which is more than tensors "
                                      "and plain containers (read with torch.load(weights_only=True)); save only "
                                      "the state dicts, e.g. torch.save({'D_detail': D_detail.state_dict()}, "
                                      "path)") from None
        detail = _DETAIL_RE.search(str(exc))
        reason = detail.group(1).strip() if detail else f"{type(exc).__name__}: {exc}"
        raise DecaCheckpointError(f"{path}: not a readable torch checkpoint ({reason})") from None
    if not isinstance(obj, Mapping):
        raise DecaCheckpointError(f"{path}: expected a dict of state dicts ({DETAIL_KEY}, E_flame, ...), "
                                  f"got {type(obj).__name__}")
    return obj


def _prefixed(state: Mapping, where: str) -> dict[str, Tensor] | None:
    """The ``...D_detail.*`` entries of a flat state dict with the prefix removed, or None when there are none."""
    found: dict[str, dict[str, Tensor]] = {}
    for key, value in state.items():
        if isinstance(key, str) and f"{DETAIL_KEY}." in key:
            prefix, rest = key.split(f"{DETAIL_KEY}.", 1)
            found.setdefault(prefix, {})[rest] = value
    if not found:
        return None
    if len(found) > 1:
        raise DecaCheckpointError(f"{where}: several detail decoders ({', '.join(p + DETAIL_KEY for p in found)}); "
                                  "keep one")
    return next(iter(found.values()))


def read_detail_state(source: str | Path | Mapping) -> tuple[dict[str, Tensor], str]:
    """``(D_detail state dict, where)`` from a checkpoint path, a loaded checkpoint dict, or the state dict."""
    if isinstance(source, (str, Path)):
        obj, where = load_deca_file(source), str(source)
    elif isinstance(source, Mapping):
        obj, where = source, "state dict"
    else:
        raise DecaCheckpointError(f"expected a checkpoint path or a state dict, got {type(source).__name__}")
    if "l1.0.weight" in obj:
        state = obj
    elif DETAIL_KEY in obj:
        state = obj[DETAIL_KEY]
        where = f"{where}: {DETAIL_KEY}"
        if not isinstance(state, Mapping):
            raise DecaCheckpointError(f"{where}: expected a state dict, got {type(state).__name__}")
    else:
        flat = obj.get("state_dict", obj)
        state = _prefixed(flat, where) if isinstance(flat, Mapping) else None
        if state is None:
            keys = ", ".join(str(k) for k in list(obj)[:8]) or "none"
            raise DecaCheckpointError(f"{where}: no {DETAIL_KEY} in the checkpoint (its keys: {keys}); expected "
                                      f"DECA's deca_model.tar (a dict with E_flame, E_detail, {DETAIL_KEY})")
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise DecaCheckpointError(f"{where}: entries that are not named tensors: {', '.join(bad[:5])}")
    return dict(state), where


def architecture_of(state: Mapping[str, Tensor], where: str = "state dict") -> dict:
    """``{"in_features", "channels", "init_size"}`` of a detail decoder state dict in DECA's key layout.

    The key set must be exactly DECA's (for the number of blocks its convolutions imply); shapes must chain.
    """
    convs = sorted(int(m.group(1)) for k in state if (m := _CONV_RE.match(k)))
    if "l1.0.weight" not in state or not convs:
        raise DecaCheckpointError(f"{where}: not DECA's detail decoder: no l1.0.weight / conv_blocks.*.weight "
                                  "(expected DECA's decoders.Generator keys)")
    last = convs[-1]
    num_blocks = (last - 1) // 4
    expected = set(deca_keys(num_blocks))
    if (last - 1) % 4 or num_blocks < 1:
        raise DecaCheckpointError(f"{where}: conv_blocks.{last} cannot be the last convolution of DECA's layout "
                                  "(conv_blocks.{4n+1} for n upsampling blocks)")
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:6])}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:6])}"] if unexpected else [])
        raise DecaCheckpointError(f"{where}: not DECA's detail decoder key layout ({'; '.join(parts)})")
    l1 = state["l1.0.weight"]
    if l1.dim() != 2:
        raise DecaCheckpointError(f"{where}: l1.0.weight must be 2-D, got shape {tuple(l1.shape)}")
    channels = [int(state["conv_blocks.0.weight"].shape[0])]
    for i in range(num_blocks):
        w = state[f"conv_blocks.{4 * i + 2}.weight"]
        if w.dim() != 4 or tuple(w.shape[1:]) != (channels[-1], 3, 3):
            raise DecaCheckpointError(f"{where}: conv_blocks.{4 * i + 2}.weight has shape {tuple(w.shape)}; expected "
                                      f"(C, {channels[-1]}, 3, 3)")
        channels.append(int(w.shape[0]))
    final = state[f"conv_blocks.{last}.weight"]
    if tuple(final.shape) != (1, channels[-1], 3, 3):
        raise DecaCheckpointError(f"{where}: conv_blocks.{last}.weight has shape {tuple(final.shape)}; expected "
                                  f"(1, {channels[-1]}, 3, 3)")
    side2 = l1.shape[0] / channels[0]
    side = int(round(side2 ** 0.5))
    if side < 1 or side * side * channels[0] != l1.shape[0]:
        raise DecaCheckpointError(f"{where}: l1.0.weight has {l1.shape[0]} outputs, not {channels[0]} x s x s")
    return {"in_features": int(l1.shape[1]), "channels": tuple(channels), "init_size": side,
            "num_blocks": num_blocks}
