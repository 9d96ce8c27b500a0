"""Export decoded ``uv_z`` in DECA's convention, for DECA's own ``displacement2normal``.

Per sample: ``<name>_uv_z.npy`` - (256, 256) float32 in metres, *before* the mask and without the fixed
displacement (DECA multiplies by ``uv_face_eye_mask`` and adds ``fixed_uv_dis`` itself); load it with
``torch.from_numpy(np.load(path))[None, None]`` as DECA's ``uv_z`` - and ``<name>_uv_z.png``, a 16-bit preview
(``uv_z = png / 65535 * scale + offset``, the encoding written in ``export.json`` with the AUs used).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from aucgan.au import au_vector
from aucgan.data.mapio import save_displacement
from aucgan.deca.data import PREVIEW_OFFSET, PREVIEW_SCALE, DecaData
from aucgan.deca.decoder import DetailDecoder
from aucgan.fsutil import atomic_write, atomic_write_text

CONVENTION = ("DECA uv_z: metres, before uv_face_eye_mask and without fixed_displacement_256.npy "
              "(DECA's displacement2normal applies both)")


@torch.no_grad()
def export_uv_z(dec: DetailDecoder, data: DecaData, names: Sequence[str], out: str | Path,
                au: Mapping[str, float] | None = None, info: Mapping | None = None) -> dict:
    """Decode the samples ``names`` (their own latent; their own AUs with ``au`` overriding some, by name) and
    write ``.npy`` + 16-bit ``.png`` per sample and ``export.json``; return the sidecar. With ``au``, each
    sample's ``au_edit_moved_max_m`` is the largest |change| the override made to its map (None where the
    override equals the sample's own AUs): 0 everywhere means the decoder ignores its AU inputs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dec.eval()
    samples = {}
    for name in names:
        i = data.index(name)
        own = torch.from_numpy(data.au[i].copy())
        target = torch.from_numpy(au_vector(au, dec.au_names, base=data.au[i])) if au else own
        latent = torch.from_numpy(np.array(data.latents[i], np.float32))
        source = own[None] if dec.needs_source_au else None
        uv = dec(latent[None], target[None], source_au=source)[0, 0]
        arr = uv.float().numpy().astype(np.float32)
        moved = None
        if au and not torch.equal(target, own):
            moved = float((uv - dec(latent[None], own[None], source_au=source)[0, 0]).abs().max())
        npy, png = out / f"{name}_uv_z.npy", out / f"{name}_uv_z.png"
        atomic_write(npy, lambda p, a=arr: np.save(p, a, allow_pickle=False))
        atomic_write(png, lambda p, t=uv: save_displacement(p, t[None], PREVIEW_SCALE, PREVIEW_OFFSET))
        samples[name] = {"files": [npy.name, png.name], "au": dict(zip(dec.au_names, map(float, target))),
                         "min_m": float(arr.min()), "max_m": float(arr.max()), "au_edit_moved_max_m": moved,
                         "clipped_in_preview": bool(arr.min() < PREVIEW_OFFSET
                                                    or arr.max() > PREVIEW_OFFSET + PREVIEW_SCALE)}
    sidecar = {"convention": CONVENTION, "shape": [dec.output_size, dec.output_size], "dtype": "float32",
               "preview": {"bits": 16, "scale": PREVIEW_SCALE, "offset": PREVIEW_OFFSET,
                           "decode": "uv_z = png / 65535 * scale + offset"},
               "decoder": dict(info or {}), "data": str(data.root), "samples": samples}
    atomic_write_text(out / "export.json", json.dumps(sidecar, indent=1))
    return sidecar
