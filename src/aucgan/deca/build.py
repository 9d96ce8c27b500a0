"""Turn a ``deca`` config into networks, and load decoders back: from a DECA/EMOCA checkpoint or an aucgan run.

A run of the ``deca`` preset holds ``config.json`` (:class:`~aucgan.deca.config.DecaTrainConfig`),
``decoder.json`` (the decoder's constructor arguments, so it is rebuilt without the DECA checkpoint it was
imported from) and checkpoints in safetensors (``G``, ``G_ema``, ``D``); the decoder's footprints travel
with its weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from aucgan.au import AU_NAMES, au_set
from aucgan.config.loading import from_dict
from aucgan.deca.checkpoint import architecture_of, read_detail_state
from aucgan.deca.config import DecaTrainConfig
from aucgan.deca.decoder import DetailDecoder
from aucgan.deca.footprints import as_layout, uv_footprints
from aucgan.errors import AucganError
from aucgan.models.discriminator import build_discriminator
from aucgan.nn.conditioning import CONDITIONING
from aucgan.nn.layers import resize_to
from aucgan.rundir.files import DECODER_FILE, read_config, read_object
from aucgan.runs import load_network


def read_mask_image(path: str | Path) -> np.ndarray:
    """A mask image (DECA's ``uv_face_eye_mask.png``: channel 0 / 255, as DECA reads it) as (H, W) in [0, 1]."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except FileNotFoundError:
        raise AucganError(f"{path}: no such mask image") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise AucganError(f"{path}: not a readable image ({exc})") from None
    arr = arr[..., 0] if arr.ndim == 3 else arr
    top = 65535.0 if arr.dtype == np.uint16 else 255.0
    return (arr.astype(np.float32) / top).clip(0.0, 1.0)


def _needs_footprints(conditioning: Sequence[str], head: str) -> bool:
    return head == "au_residual" or any(CONDITIONING.get(n).injection == "spatial" for n in conditioning)


def decoder_footprints(layout: str | Path | None, mask: str | Path | None, au_names: Sequence[str], size: int
                       ) -> torch.Tensor:
    """The AU footprints a decoder of output ``size`` reads (from the layout JSON and an optional mask image)."""
    return uv_footprints(layout, au_names, size, None if mask is None else read_mask_image(mask))


def face_mask(layout: str | Path | None, mask: str | Path | None, size: int) -> torch.Tensor | None:
    """DECA's face mask at a decoder's output ``size``, (1, 1, size, size) in [0, 1]: the layout's raster mask
    (``aucgan layout flame`` stores DECA's ``uv_face_eye_mask.png``) times the ``mask`` image, as the footprints
    use them. None when neither gives a mask or the mask covers every pixel (nothing to leave out)."""
    found = as_layout(layout).mask_at((size, size))
    if mask is not None:
        m = resize_to(torch.from_numpy(read_mask_image(mask))[None, None], (size, size))[0, 0]
        found = m if found is None else found * m
    if found is None or bool((found >= 1.0).all()):
        return None
    return found.float().clamp(0.0, 1.0)[None, None].contiguous()


def build_decoder(cfg: DecaTrainConfig) -> DetailDecoder:
    """The configured decoder: ``decoder.checkpoint``'s D_detail imported (architecture read from it) with the
    configured conditioning, or DECA's architecture freshly initialised when no checkpoint is given."""
    d = cfg.decoder
    au_names = au_set(cfg.data.au_set)
    kwargs = dict(au_names=au_names, conditioning=list(d.conditioning), head=d.head, latent_dim=d.latent_dim,
                  residual_mode=d.residual_mode, cond_hidden=d.cond_hidden,
                  cond_levels=None if d.cond_levels is None else list(d.cond_levels), blendshapes=d.blendshapes)
    state = None
    if d.checkpoint:
        state, where = read_detail_state(d.checkpoint)
        arch = architecture_of(state, where)
        channels, init_size = arch["channels"], arch["init_size"]
    else:
        channels, init_size = d.channels, d.init_size
    size = init_size * 2 ** (len(channels) - 1)
    fp = decoder_footprints(d.layout, d.mask, au_names, size) if _needs_footprints(d.conditioning, d.head) else None
    if state is None:
        return DetailDecoder(channels=channels, init_size=init_size, au_input=d.au_input, footprints=fp, **kwargs)
    dec = DetailDecoder.from_deca(state, au_input=d.checkpoint_au_input, footprints=fp, **kwargs)
    if d.au_input != d.checkpoint_au_input:
        if dec.concat_aus:
            raise AucganError(f"decoder.au_input ({d.au_input}) differs from decoder.checkpoint_au_input "
                              f"({d.checkpoint_au_input}) but concat_latent keeps the checkpoint's AU columns: "
                              "use one scale")
        dec.au_input = d.au_input
    return dec


def build_deca_discriminator(cfg: DecaTrainConfig, size: int) -> torch.nn.Module:
    """The conditional discriminator on uv_z maps (one channel, decoder units) from aucgan's registry."""
    dc = cfg.discriminator
    return build_discriminator(dc.kind, in_channels=1, num_aus=len(au_set(cfg.data.au_set)),
                               base_channels=dc.base_channels, max_channels=dc.max_channels, num_down=dc.num_down,
                               spectral_norm=dc.spectral_norm, image_size=size)


def build_models(cfg: DecaTrainConfig) -> tuple[DetailDecoder, torch.nn.Module]:
    """The configured decoder and discriminator (the discriminator whether or not the loss weights use it)."""
    dec = build_decoder(cfg)
    return dec, build_deca_discriminator(cfg, dec.output_size)


def is_deca_run(path: str | Path) -> bool:
    """Whether ``path`` is a run directory of the ``deca`` preset (it has ``decoder.json``)."""
    return (Path(path) / DECODER_FILE).is_file()


def load_deca_run(run_dir: str | Path, which: str = "G_ema", device: torch.device | str = "cpu",
                  checkpoint: int | str | Path | None = None) -> tuple[DetailDecoder, DecaTrainConfig, int]:
    """The decoder (EMA by default) of a ``deca`` run, frozen, with its config and step; ``checkpoint``: None for
    the latest, a step, or a checkpoint folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AucganError(f"{run_dir}: no such run directory")
    cfg = from_dict(DecaTrainConfig, read_config(run_dir, "deca run"), str(run_dir))
    arch = read_object(run_dir / DECODER_FILE, "deca run")
    try:
        k, size = len(arch["au_names"]), int(arch["init_size"]) * 2 ** (len(arch["channels"]) - 1)
        fp = torch.zeros(k, size, size) if _needs_footprints(arch["conditioning"], arch["head"]) else None
        dec = DetailDecoder(footprints=fp, **arch)
    except (KeyError, TypeError, ValueError) as exc:
        raise AucganError(f"{run_dir / DECODER_FILE}: malformed ({type(exc).__name__}: {exc})") from None
    dec, step = load_network(run_dir, which, dec, device, checkpoint)
    return dec, cfg, step


def load_decoder(source: str | Path, deca: bool = False, au_names: str | Sequence[str] = AU_NAMES,
                 au_input: str = "unit", device: torch.device | str = "cpu") -> tuple[DetailDecoder, dict]:
    """A frozen decoder to diagnose or export from: a DECA/EMOCA checkpoint (``deca=True``; imported with
    ``concat_latent``, which is their AU-concat variant's design and zero AU columns for plain DECA) or a
    ``deca`` run directory. Returns the decoder and a description (kind, AU inputs, step; for a run also the
    layout and mask it was trained with)."""
    source = Path(source)
    if deca:
        state, where = read_detail_state(source)
        arch = architecture_of(state, where)
        names = au_set(au_names if isinstance(au_names, str) else list(au_names))
        dec = DetailDecoder.from_deca(state, au_names=names, conditioning="concat_latent", au_input=au_input)
        au_inputs = arch["in_features"] - dec.latent_dim
        info = {"kind": "deca checkpoint", "path": str(source), "au_inputs": au_inputs,
                "variant": "AU-concat (latent + AUs)" if au_inputs else "plain DECA (no AU input)",
                "au_input": au_input}
        return dec.to(device).eval().requires_grad_(False), info
    if source.is_file():
        raise AucganError(f"{source}: a file; for a DECA/EMOCA checkpoint pass --deca, otherwise give a run "
                          "directory of the deca preset")
    if not is_deca_run(source):
        raise AucganError(f"{source}: not a run of the deca preset (no {DECODER_FILE}); for a DECA/EMOCA checkpoint "
                          "pass --deca")
    dec, cfg, step = load_deca_run(source, device=device)
    return dec, {"kind": "aucgan deca run", "path": str(source), "step": step,
                 "conditioning": list(dec.conditioning), "head": dec.head_kind, "au_input": dec.au_input,
                 "layout": cfg.decoder.layout, "mask": cfg.decoder.mask}
