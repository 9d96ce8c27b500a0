"""``prepare-deca``: build a DECA detail data set (the folder :mod:`aucgan.deca.data` reads) from DECA's and
EMOCA's outputs joined with OpenFace AUs.

Sources (read by :mod:`aucgan.deca.readers`):

* DECA ``demo_reconstruct.py --saveMat True``: ``<root>/<name>/<name>.mat`` with ``displacement_map`` =
  ``uv_z + fixed_displacement`` (not masked); ``uv_z`` is recovered by subtracting the user's
  ``data/fixed_displacement_256.npy``. DECA saves no codes: they come from the .mat when a modified demo
  saved ``pose``, ``exp`` and ``detail`` in it, or from EMOCA's codes.
* EMOCA ``--save_codes``: ``<root>/<name>/{pose,exp,detail}.npy`` (+ shape, tex, ...). Without a .mat,
  ``uv_z`` is decoded from the codes by the user's decoder checkpoint (``--decoder deca_model.tar``).

The latent is ``[pose[3:6] (jaw), exp, detail]`` (DECA's ``cat([pose[:, 3:], exp, detail])``; 181 values
with DECA's 50 expression and 128 detail parameters). AUs come from OpenFace 2.x (intensities 0..5), matched
by image name (the name DECA and EMOCA give each output: the image's file stem).

Identities (for DECA's detail consistency: detail codes swapped among images of one person) come, in this
order, from an ``--identities`` CSV (columns ``name``, ``identity``), from the folder convention
``<root>/<identity>/<name>/...`` (one DECA/EMOCA output folder per person), or else each image is its own
identity (no swaps possible).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.au import AU_NAMES, au_set
from aucgan.data.errors import DataError
from aucgan.data.mapio import save_displacement
from aucgan.deca.data import (
    CARD,
    FORMAT,
    FORMAT_VERSION,
    LATENTS,
    MANIFEST,
    OWNED,
    PREVIEW_OFFSET,
    PREVIEW_SCALE,
    REPORT,
    UV_Z,
)
from aucgan.deca.readers import (
    CODE_KEYS,
    codes_marker,
    displacement_of,
    find_outputs,
    latent_from_codes,
    mat_marker,
    read_emoca_codes,
    read_fixed_displacement,
    read_identities,
    read_mat,
    read_openface_aus,
)
from aucgan.fsutil import atomic_write, atomic_write_text, claim_folder


@dataclass
class _Plan:
    names: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    latents: list[np.ndarray] = field(default_factory=list)
    parts: set[tuple[int, int, int]] = field(default_factory=set)
    aus: list[np.ndarray] = field(default_factory=list)
    mats: list[Path | None] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _claim(out: Path, force: bool) -> None:
    claim_folder(out, OWNED, force, "the prepared DECA data set's output")
    (out / "maps").mkdir(exist_ok=True)


def prepare_deca(out: str | Path, aus: str | Path, *, mat: str | Path | None = None,
                 codes: str | Path | None = None, fixed_displacement: str | Path | None = None,
                 decoder: str | Path | None = None, decoder_au_input: str = "unit",
                 identities: str | Path | None = None, images: str | Path | None = None,
                 au_names: str | Sequence[str] = AU_NAMES, min_confidence: float = 0.0, force: bool = False,
                 batch_size: int = 16, log: Callable[[str], None] | None = None) -> dict:
    """Build a DECA detail data set in ``out`` (see the module notes); return the report (also written).

    ``uv_z`` comes from DECA's .mat files (``mat`` + ``fixed_displacement``) or, without them, from the codes
    decoded by ``decoder`` (a DECA/EMOCA checkpoint; for their AU-concat variant the AUs enter scaled by
    ``decoder_au_input``). Codes come from ``codes`` (EMOCA folders) or from the .mat files.
    """
    out = Path(out)
    names = au_set(au_names if isinstance(au_names, str) else list(au_names))
    if mat is None and codes is None:
        raise DataError("give DECA's --saveMat output (--mat DIR) and/or EMOCA's --save_codes output (--codes DIR)")
    if mat is not None and fixed_displacement is None:
        raise DataError("--mat needs --fixed-displacement (DECA's data/fixed_displacement_256.npy): DECA's "
                        "displacement_map is uv_z plus that fixed map")
    if mat is None and decoder is None:
        raise DataError("without DECA's .mat files uv_z has to be decoded from the codes: pass --decoder "
                        "deca_model.tar")
    mats = find_outputs(mat, mat_marker, "DECA --saveMat output (<name>/<name>.mat)") if mat is not None else {}
    code_dirs = find_outputs(codes, codes_marker, "EMOCA --save_codes output (<name>/exp.npy ...)") \
        if codes is not None else {}
    au_rows, problems = read_openface_aus(aus, names, images=images, min_confidence=min_confidence)
    id_map = read_identities(identities) if identities is not None else None
    fixed = read_fixed_displacement(fixed_displacement) if mat is not None else None

    plan = _Plan()
    candidates = sorted(mats) if mat is not None else sorted(code_dirs)
    if mat is not None and codes is not None:
        for name in sorted(set(code_dirs) - set(mats)):
            plan.skipped[name] = "EMOCA codes but no DECA .mat"
    for name in candidates:
        mat_file, mat_id = mats.get(name, (None, None))
        code_dir, code_id = code_dirs.get(name, (None, None))
        if name not in au_rows:
            plan.skipped[name] = "no OpenFace AU row for this image"
            continue
        if code_dir is not None:
            latent, parts = read_emoca_codes(code_dir)
        else:
            contents = read_mat(mat_file)
            if not all(k in contents for k in CODE_KEYS):
                if codes is None:
                    raise DataError(f"{mat_file}: no codes (DECA's --saveMat saves none): pass EMOCA's codes "
                                    "(--codes DIR) or save codedict's pose, exp and detail into the .mat")
                plan.skipped[name] = "DECA .mat but no EMOCA codes"
                continue
            latent, parts = latent_from_codes(contents["pose"], contents["exp"], contents["detail"], str(mat_file))
        if id_map is not None:
            if name not in id_map:
                raise DataError(f"{identities}: no identity for {name!r} (every prepared image needs a row)")
            identity = id_map[name]
        else:
            identity = mat_id or code_id or name
        plan.names.append(name)
        plan.identities.append(identity)
        plan.latents.append(latent)
        plan.parts.add(parts)
        plan.aus.append(au_rows[name].au)
        plan.mats.append(mat_file)
    if not plan.names:
        reasons = Counter(plan.skipped.values()).most_common(1)
        raise DataError(f"nothing to prepare: {len(plan.skipped)} outputs skipped"
                        + (f", mostly: {reasons[0][0]}" if reasons else ""))
    if len(plan.parts) != 1:
        raise DataError(f"the codes have different lengths (jaw, exp, detail: {sorted(plan.parts)}); expected one "
                        "model's codes")
    parts = plan.parts.pop()
    latent_dim = sum(parts)

    dec = None
    if mat is None:
        from aucgan.deca.decoder import DetailDecoder

        dec = DetailDecoder.from_deca(decoder, au_names=names, conditioning="concat_latent",
                                      au_input=decoder_au_input, latent_dim=latent_dim).eval()
        size = dec.output_size
    else:
        size = fixed.shape[0]
    _claim(out, force)
    n = len(plan.names)
    latents = np.stack(plan.latents).astype(np.float32)
    au = np.stack(plan.aus).astype(np.float32)
    tmp = out / f".{UV_Z}.tmp.npy"
    uv = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 1, size, size))
    try:
        if dec is None:
            for i, mat_file in enumerate(plan.mats):
                disp = displacement_of(read_mat(mat_file), mat_file)
                if disp.shape != fixed.shape:
                    raise DataError(f"{mat_file}: displacement_map is {disp.shape[0]}x{disp.shape[1]}, "
                                    f"{fixed_displacement} is {fixed.shape[0]}x{fixed.shape[1]}")
                uv[i, 0] = disp - fixed
                _preview(out, plan.names[i], uv[i])
                if log is not None:
                    log(f"{plan.names[i]}: uv_z from {mat_file}")
        else:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    sl = slice(start, min(n, start + batch_size))
                    z = dec(torch.from_numpy(latents[sl]), torch.from_numpy(au[sl])).numpy()
                    uv[sl] = z
                    for i in range(sl.start, sl.stop):
                        _preview(out, plan.names[i], uv[i])
            if log is not None:
                log(f"decoded uv_z of {n} samples with {decoder}")
        uv.flush()
        del uv
        os.replace(tmp, out / UV_Z)
    finally:
        if tmp.exists():
            tmp.unlink()
    atomic_write(out / LATENTS, lambda p: np.save(p, latents, allow_pickle=False))
    _write_manifest(out, plan, names, au)
    card = {"format": FORMAT, "format_version": FORMAT_VERSION, "count": n, "au_names": list(names),
            "latent_dim": latent_dim,
            "latent_parts": [["jaw", parts[0]], ["exp", parts[1]], ["detail", parts[2]]], "uv_size": size,
            "uv_z_units": "metres",
            "uv_z_source": "decoder" if dec is not None else "mat",
            "displacement": {"scale": PREVIEW_SCALE, "offset": PREVIEW_OFFSET},
            "identity_rule": "identities CSV" if id_map is not None else "folder <identity>/<name>, else the name",
            "identities": len(set(plan.identities)),
            "sources": {"mat": None if mat is None else str(Path(mat).resolve()),
                        "codes": None if codes is None else str(Path(codes).resolve()),
                        "aus": str(Path(aus).resolve()),
                        "fixed_displacement": None if fixed_displacement is None
                        else str(Path(fixed_displacement).resolve()),
                        "decoder": None if decoder is None else str(Path(decoder).resolve())}}
    atomic_write_text(out / CARD, json.dumps(card, indent=1))
    report = {"prepared": n, "skipped": len(plan.skipped),
              "skipped_by_reason": dict(Counter(plan.skipped.values())),
              "skipped_samples": plan.skipped, "identities": card["identities"],
              "au_file_problems": problems}
    atomic_write_text(out / REPORT, json.dumps(report, indent=1))
    return report


def _preview(out: Path, name: str, uv_z: np.ndarray) -> None:
    atomic_write(out / "maps" / f"{name}.png",
                 lambda p: save_displacement(p, torch.from_numpy(np.array(uv_z)), PREVIEW_SCALE, PREVIEW_OFFSET))


def _write_manifest(out: Path, plan: _Plan, names: Sequence[str], au: np.ndarray) -> None:
    def write(path: Path) -> None:
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "identity", "displacement", *names])
            for i, name in enumerate(plan.names):
                w.writerow([name, plan.identities[i], f"maps/{name}.png", *(f"{v:.4f}" for v in au[i])])

    atomic_write(out / MANIFEST, write)


