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
from typing import TYPE_CHECKING

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
    identity_warning,
)
from aucgan.deca.readers import (
    CODE_KEYS,
    Output,
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
from aucgan.progress import Mode, Progress

if TYPE_CHECKING:
    from aucgan.deca.decoder import DetailDecoder


#: ``--mat`` with ``--decoder``: the largest median |D(latent) - uv_z| / mean |uv_z| that still counts as one
#: encoder's codes and maps. Codes and maps of one model differ by float rounding (3e-7 in the test fixtures); codes
#: of another encoder (EMOCA's with DECA's .mat) decode to another map (unrelated fixture maps: 121%).
MISMATCH_LIMIT = 0.2
FACE_LEFT = "another face of an image with several (OpenFace's AUs are per image: one face kept, see emoca_faces)"


@dataclass
class _Plan:
    names: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    identity_folders: dict[str, str] = field(default_factory=dict)
    latents: list[np.ndarray] = field(default_factory=list)
    parts: set[tuple[int, int, int]] = field(default_factory=set)
    aus: list[np.ndarray] = field(default_factory=list)
    mats: list[Path | None] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    faces: dict[str, dict] = field(default_factory=dict)


def _claim(out: Path, force: bool) -> None:
    claim_folder(out, OWNED, force, "the prepared DECA data set's output")
    (out / "maps").mkdir(exist_ok=True)


def _face_of(folder_name: str, known: set[str]) -> tuple[str, int | None]:
    """The image an EMOCA output folder belongs to, and its face index: EMOCA's image demo names a face's folder
    ``<image name><face index:02d>`` (``img_0001`` -> ``img_000100``), and the bare image name when it found no
    face. ``known`` holds the image names (OpenFace rows, or DECA's .mat folders) the folder can join to."""
    if folder_name in known:
        return folder_name, None
    head, tail = folder_name[:-2], folder_name[-2:]
    if head and tail.isdigit() and head in known:
        return head, int(tail)
    return folder_name, None


def _emoca_codes(outputs: list[Output], known: set[str], plan: _Plan
                 ) -> tuple[dict[str, Output], set[tuple[str, ...]]]:
    """``{image name: the codes folder kept}`` (the lowest face index of an image with several faces: OpenFace's
    AUs are per image), and the folders that are EMOCA's ``<model name>`` folders (they hold face-indexed
    outputs, so they are not a person's folder). The faces kept and left are written into ``plan.faces``."""
    by_image: dict[str, list[tuple[int, Output]]] = {}
    model_folders: set[tuple[str, ...]] = set()
    for o in outputs:
        image, face = _face_of(o.name, known)
        by_image.setdefault(image, []).append((-1 if face is None else face, o))
        if face is not None and o.folders:
            model_folders.add(o.folders)
    kept: dict[str, Output] = {}
    for image, found in by_image.items():
        found.sort(key=lambda f: f[0])
        kept[image] = found[0][1]
        if len(found) > 1 or found[0][1].name != image:
            plan.faces[image] = {"kept": found[0][1].name, "others": [o.name for _, o in found[1:]]}
            for _, o in found[1:]:
                plan.skipped[o.name] = FACE_LEFT
    return kept, model_folders


def _folder_identity(o: Output | None, root: str | Path | None, model_folders: set[tuple[str, ...]]
                     ) -> tuple[str, str] | None:
    """``(identity, its folder)`` of the one-folder-per-person convention: the folder above the output, EMOCA's
    model folder skipped; None for outputs directly under the root."""
    if o is None:
        return None
    folders = o.folders[:-1] if o.folders in model_folders else o.folders
    return (folders[-1], str(Path(root, *folders))) if folders else None


def prepare_deca(out: str | Path, aus: str | Path, *, mat: str | Path | None = None,
                 codes: str | Path | None = None, fixed_displacement: str | Path | None = None,
                 decoder: str | Path | None = None, decoder_au_input: str = "unit",
                 identities: str | Path | None = None, images: str | Path | None = None,
                 au_names: str | Sequence[str] = AU_NAMES, min_confidence: float = 0.0, force: bool = False,
                 allow_mismatch: bool = False, batch_size: int = 16, progress: Mode = "off",
                 log: Callable[[str], None] | None = None, presence_gate: bool = False) -> dict:
    """Build a DECA detail data set in ``out`` (see the module notes); return the report (also written).

    ``uv_z`` comes from DECA's .mat files (``mat`` + ``fixed_displacement``) or, without them, from the codes
    decoded by ``decoder`` (a DECA/EMOCA checkpoint; for their AU-concat variant the AUs enter scaled by
    ``decoder_au_input``). Codes come from ``codes`` (EMOCA folders) or from the .mat files. With both .mat
    files and ``decoder``, every sample's |D(latent) - uv_z| is measured (the report's ``decoder_check``), and a
    set whose median shows codes and maps of two different encoders is refused unless ``allow_mismatch``.
    ``progress`` is the :class:`aucgan.progress.Progress` mode (per sample); ``log`` gets the summary lines.
    ``presence_gate``: AUs that OpenFace's presence column (``AUxx_c``) calls absent get intensity 0.
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
    mats = {o.name: o for o in find_outputs(mat, mat_marker, "DECA --saveMat output (<name>/<name>.mat)")} \
        if mat is not None else {}
    code_outputs = find_outputs(codes, codes_marker, "EMOCA --save_codes output (<name>/exp.npy ...)") \
        if codes is not None else []
    au_rows, problems = read_openface_aus(aus, names, images=images, min_confidence=min_confidence,
                                          presence_gate=presence_gate)
    id_map = read_identities(identities) if identities is not None else None
    fixed = read_fixed_displacement(fixed_displacement) if mat is not None else None

    plan = _Plan()
    code_dirs, model_folders = _emoca_codes(code_outputs, set(mats) if mat is not None else set(au_rows), plan)
    candidates = sorted(mats) if mat is not None else sorted(code_dirs)
    if mat is not None and codes is not None:
        for name in sorted(set(code_dirs) - set(mats)):
            plan.skipped[code_dirs[name].name] = "EMOCA codes but no DECA .mat"
    for name in candidates:
        mat_out, code_out = mats.get(name), code_dirs.get(name)
        if name not in au_rows:
            plan.skipped[name] = "no OpenFace AU row for this image"
            continue
        if code_out is not None:
            latent, parts = read_emoca_codes(code_out.path)
        else:
            contents = read_mat(mat_out.path)
            if not all(k in contents for k in CODE_KEYS):
                if codes is None:
                    raise DataError(f"{mat_out.path}: no codes (DECA's --saveMat saves none): pass EMOCA's codes "
                                    "(--codes DIR) or save codedict's pose, exp and detail into the .mat "
                                    "(docs/deca.md)")
                plan.skipped[name] = "DECA .mat but no EMOCA codes"
                continue
            latent, parts = latent_from_codes(contents["pose"], contents["exp"], contents["detail"],
                                              str(mat_out.path))
        if id_map is not None:
            if name not in id_map:
                hint = (f"; {code_out.name!r} is EMOCA's folder for one face of it: the CSV names images"
                        if code_out is not None and code_out.name in id_map else "")
                raise DataError(f"{identities}: no identity for image {name!r} (every prepared image needs a "
                                f"row, keyed by the image's name as DECA/EMOCA give it){hint}")
            identity = id_map[name]
        else:
            found = _folder_identity(mat_out, mat, set()) or _folder_identity(code_out, codes, model_folders)
            identity = found[0] if found else name
            if found:
                plan.identity_folders.setdefault(identity, found[1])
        plan.names.append(name)
        plan.identities.append(identity)
        plan.latents.append(latent)
        plan.parts.add(parts)
        plan.aus.append(au_rows[name].au)
        plan.mats.append(None if mat_out is None else mat_out.path)
        plan.codes.append(None if code_out is None else str(code_out.path))
    if not plan.names:
        raise DataError(_nothing_to_prepare(plan, au_rows))
    if len(plan.parts) != 1:
        raise DataError(f"the codes have different lengths (jaw, exp, detail: {sorted(plan.parts)}); expected one "
                        "model's codes")
    parts = plan.parts.pop()
    latent_dim = sum(parts)
    n = len(plan.names)
    latents = np.stack(plan.latents).astype(np.float32)
    au = np.stack(plan.aus).astype(np.float32)
    warnings = []
    where = str(identities) if id_map is not None else None
    warning = identity_warning(plan.identities, where or plan.identity_folders.get(plan.identities[0]))
    if warning:
        warnings.append(warning)

    dec = None
    if decoder is not None:
        from aucgan.deca.decoder import DetailDecoder

        dec = DetailDecoder.from_deca(decoder, au_names=names, conditioning="concat_latent",
                                      au_input=decoder_au_input, latent_dim=latent_dim).eval()
    size = dec.output_size if fixed is None else fixed.shape[0]
    check = None
    if dec is not None and fixed is not None:
        check = _decoder_check(dec, plan, latents, au, fixed, fixed_displacement, progress)
        if check["median_relative"] > MISMATCH_LIMIT and not allow_mismatch:
            raise DataError(f"the codes do not decode to the .mat files' uv_z: median |D(latent) - uv_z| is "
                            f"{100 * check['median_relative']:.0f}% of |uv_z| (one encoder's codes and maps differ "
                            f"by rounding; the limit is {100 * MISMATCH_LIMIT:.0f}%): the codes and the maps come "
                            "from two different encoders (e.g. EMOCA's codes with DECA's .mat), so they are not "
                            "decoder input/output pairs. Save DECA's own codes into the .mat (docs/deca.md), or "
                            "pass --allow-mismatch to prepare the set anyway")
    elif fixed is not None and codes is not None and log is not None:
        log("note: uv_z comes from DECA's .mat files and the codes from EMOCA's: they are decoder input/output "
            "pairs only if one encoder made both; pass --decoder to measure |D(latent) - uv_z|")

    _claim(out, force)
    tmp = out / f".{UV_Z}.tmp.npy"
    uv = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 1, size, size))
    try:
        with Progress(n, "prepare-deca", unit="sample", mode=progress) as bar:
            if fixed is not None:
                for i, mat_file in enumerate(plan.mats):
                    uv[i, 0] = _uv_z_of_mat(mat_file, fixed, fixed_displacement)
                    _preview(out, plan.names[i], uv[i])
                    bar.update()
            else:
                with torch.no_grad():
                    for start in range(0, n, batch_size):
                        sl = slice(start, min(n, start + batch_size))
                        uv[sl] = dec(torch.from_numpy(latents[sl]), torch.from_numpy(au[sl])).numpy()
                        for i in range(sl.start, sl.stop):
                            _preview(out, plan.names[i], uv[i])
                        bar.update(sl.stop - sl.start)
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
            "uv_z_units": "metres", "au_presence_gate": bool(presence_gate),
            "uv_z_source": "mat" if fixed is not None else "decoder",
            "displacement": {"scale": PREVIEW_SCALE, "offset": PREVIEW_OFFSET},
            "identity_rule": "identities CSV" if id_map is not None
            else "folder <identity>/<name> (EMOCA's model folder skipped), else the name",
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
              "sources": {name: {"mat": None if m is None else str(m), "codes": c}
                          for name, m, c in zip(plan.names, plan.mats, plan.codes)},
              "emoca_faces": plan.faces, "decoder_check": check, "warnings": warnings,
              "au_file_problems": problems}
    atomic_write_text(out / REPORT, json.dumps(report, indent=1))
    return report


def _nothing_to_prepare(plan: _Plan, au_rows: dict) -> str:
    reasons = Counter(plan.skipped.values()).most_common(1)
    text = f"nothing to prepare: {len(plan.skipped)} outputs skipped" + (f", mostly: {reasons[0][0]}"
                                                                          if reasons else "")
    if reasons and reasons[0][0].startswith("no OpenFace AU row"):
        outputs = ", ".join(sorted(plan.skipped)[:3])
        rows = ", ".join(sorted(au_rows)[:3]) or "none"
        text += (f" (outputs {outputs}; AU rows for {rows}: they join by the image's name as DECA/EMOCA give it, "
                 "the part of its file name before the first dot, with EMOCA's two-digit face index after it)")
    return text


def _uv_z_of_mat(mat_file: Path, fixed: np.ndarray, fixed_displacement: str | Path) -> np.ndarray:
    disp = displacement_of(read_mat(mat_file), mat_file)
    if disp.shape != fixed.shape:
        raise DataError(f"{mat_file}: displacement_map is {disp.shape[0]}x{disp.shape[1]}, "
                        f"{fixed_displacement} is {fixed.shape[0]}x{fixed.shape[1]}")
    return disp - fixed


@torch.no_grad()
def _decoder_check(dec: DetailDecoder, plan: _Plan, latents: np.ndarray, au: np.ndarray, fixed: np.ndarray,
                   fixed_displacement: str | Path, progress: Mode) -> dict:
    """Per sample |D(latent) - uv_z| (metres, and relative to mean |uv_z|) of the .mat's uv_z and the
    decoder's output of the sample's codes, with their medians."""
    if dec.output_size != fixed.shape[0]:
        raise DataError(f"--decoder makes {dec.output_size} px maps, the .mat files' uv_z is {fixed.shape[0]} px")
    per_sample = {}
    with Progress(len(plan.names), "prepare-deca: decoder check", unit="sample", mode=progress) as bar:
        for i, name in enumerate(plan.names):
            target = _uv_z_of_mat(plan.mats[i], fixed, fixed_displacement)
            made = dec(torch.from_numpy(latents[i:i + 1]), torch.from_numpy(au[i:i + 1]))[0, 0].numpy()
            diff = float(np.abs(made - target).mean())
            per_sample[name] = {"mean_abs_m": diff, "relative": diff / max(float(np.abs(target).mean()), 1e-12)}
            bar.update()
    return {"median_abs_m": float(np.median([s["mean_abs_m"] for s in per_sample.values()])),
            "median_relative": float(np.median([s["relative"] for s in per_sample.values()])),
            "limit_relative": MISMATCH_LIMIT, "per_sample": per_sample}


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


