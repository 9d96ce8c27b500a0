"""Rendering identities with AU vectors: albedo, displacement, normals and landmarks, batched in torch.

``render(identities, au, emotion, valence)`` pairs identity ``b`` with AU vector ``b``. It is a few dozen
tensor operations over the batch on top of the identities' precomputed maps:

* displacement = static lines + sum over AUs of (core * u + extension * u^2) + eye recess + mouth recess,
  ``u = intensity / 5`` (strictly growing amplitude; exactly zero change outside each AU's footprint);
* eyelids: AU05 raises the upper lid, AU07 raises the lower lid, AU45 closes the upper lid onto the lower
  one (lid skin then covers the eye); AU25 and AU26 open a dark gap between the lips;
* albedo = skin with the emotion flush (haemoglobin change on forehead, cheeks, nose, chin), the visible
  eye, lash line and mouth gap, darkened slightly in creases (ambient occlusion of the displacement).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS, to_unit
from aucgan.data.synth.config import SynthConfig, SynthError
from aucgan.data.synth.expression import flush_table
from aucgan.data.synth.identity import EPS_HAEMOGLOBIN, MOUTH_INTERIOR, TEETH, IdentityBatch
from aucgan.layout.atlas import smoothstep
from aucgan.render.normals import displacement_to_normal

Tensor = torch.Tensor

_AU = {code: i for i, code in enumerate(AU_NAMES)}

#: Renderers of the worlds other than the default, ``world -> render(identities, au, emotion, valence,
#: index)`` on checked arguments; each world's module registers its own (:mod:`aucgan.data.synth.strain`).
WORLD_RENDERERS: dict[str, Callable[..., dict[str, Tensor]]] = {}


def _col(t: Tensor) -> Tensor:
    return t.view(-1, 1, 1, 1)


def _check(identities: IdentityBatch, au: Tensor, emotion: Tensor | None, valence: Tensor | None,
           config: SynthConfig | None, index: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    b = len(identities) if index is None else int(index.numel())
    au = torch.as_tensor(au, dtype=torch.float32)
    if au.shape != (b, NUM_AUS):
        raise SynthError(f"AU vectors must have shape ({b}, {NUM_AUS}) for {b} samples, "
                         f"got {tuple(au.shape)}")
    if index is not None:
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if b and (int(index.min()) < 0 or int(index.max()) >= len(identities)):
            raise SynthError(f"identity index must lie in 0..{len(identities) - 1}")
    if not torch.isfinite(au).all() or float(au.min()) < AU_MIN or float(au.max()) > AU_MAX:
        raise SynthError("AU intensities must be finite and within 0..5")
    emotion = torch.zeros(b, dtype=torch.long) if emotion is None else torch.as_tensor(emotion).long()
    valence = torch.zeros(b) if valence is None else torch.as_tensor(valence, dtype=torch.float32)
    if emotion.shape != (b,) or valence.shape != (b,):
        raise SynthError(f"emotion and valence must have shape ({b},), got {tuple(emotion.shape)} "
                         f"and {tuple(valence.shape)}")
    table = flush_table()
    if b and (int(emotion.min()) < 0 or int(emotion.max()) >= table.shape[0]):
        raise SynthError(f"emotion indices must lie in 0..{table.shape[0] - 1} (aucgan.au.EMOTIONS)")
    if config is not None and config != identities.config:
        raise SynthError("render(config=...) differs from the config the identities were built with; "
                         "build them with make_identities(..., config)")
    return au, emotion, valence.clamp(-1.0, 1.0), index


def flush_weights(emotion: Tensor, valence: Tensor, cfg: SynthConfig) -> Tensor:
    """(B, 4) haemoglobin change of the flush regions (forehead, cheeks, nose, chin) for each sample."""
    return flush_table()[emotion] * _col(cfg.flush_strength * (0.5 + 0.5 * valence.abs()))[:, :, 0, 0]


@torch.no_grad()
def render(identities: IdentityBatch, au: Tensor, emotion: Tensor | None = None,
           valence: Tensor | None = None, config: SynthConfig | None = None,
           index: Tensor | None = None) -> dict[str, Tensor]:
    """Maps of identity ``b`` showing AU vector ``b`` (intensities 0..5, AU_NAMES order).

    Identities of another world (``config.world``, e.g. ``strain``) are rendered by that world's registered
    renderer (:data:`WORLD_RENDERERS`); the arguments and outputs are the same.

    Returns ``albedo`` (B, 3, H, W) in [0, 1], ``displacement`` (B, 1, H, W) in layout units, ``normal``
    (B, 3, H, W) unit vectors (layout frame, ``config.normal_strength``) and ``landmarks`` (B, 68, 2).
    ``emotion`` (B,) indexes :data:`aucgan.au.EMOTIONS` (default neutral), ``valence`` (B,) in -1..1.
    ``index`` (B,), if given, names the identity row of each sample instead (many AU vectors per identity
    without copying the identities, as ``identities.take(index)`` would).
    """
    au, emotion, valence, index = _check(identities, au, emotion, valence, config, index)
    cfg = identities.config
    if cfg.world != "default":
        if cfg.world not in WORLD_RENDERERS:
            raise SynthError(f"no renderer for world {cfg.world!r}; registered: {', '.join(sorted(WORLD_RENDERERS))}")
        return WORLD_RENDERERS[cfg.world](identities, au, emotion, valence, index)
    u = to_unit(au)
    eps = 1.0 / cfg.size
    amps = torch.stack([u, u * u], dim=-1)                                    # (B, K, 2)
    _, k, two, h, w = identities.basis.shape
    b = amps.shape[0]
    basis = identities.basis.reshape(len(identities), k * two, h * w)
    if index is None:
        ident = identities
        expr = torch.bmm(amps.reshape(b, 1, k * two), basis).view(b, 1, h, w)
    else:
        ident = identities.take(index, include_basis=False)
        expr = torch.empty(b, h * w)
        for row in torch.unique(index).tolist():
            sel = torch.nonzero(index == row).flatten()
            expr[sel] = amps[sel].reshape(-1, k * two) @ basis[row]
        expr = expr.view(b, 1, h, w)

    # eyelids: the aperture between the upper and lower lid curves
    t, v, hu, hl, eye_window = (f[:, None] for f in ident.eye_fields.unbind(1))
    shape = (1.0 - t * t).clamp_min(0.0)
    u5, u7, u45 = (_col(u[:, _AU[c]]) for c in ("AU05", "AU07", "AU45"))
    v_low = hl * (1.0 - 0.45 * u7) * shape
    v_open = -hu * (1.0 + 0.45 * u5) * shape
    v_up = v_open + (v_low - v_open) * u45
    aperture = smoothstep(0.0, eps, torch.minimum(v - v_up, v_low - v)) * eye_window
    lash = (1.0 - ((v - v_up) / (0.5 * eps + 0.003)) ** 2).clamp_min(0.0) ** 2
    lash = lash * smoothstep(0.1, 0.3, shape) * eye_window

    # lips: the gap opens along the lip line (mostly downwards: the jaw drops)
    tm, vm, mouth_window = (f[:, None] for f in ident.mouth_fields.unbind(1))
    s = _col(ident.scale)
    drive = 0.35 * _col(u[:, _AU["AU25"]]) + 0.75 * _col(u[:, _AU["AU26"]])
    half = cfg.lip_gap * s * torch.tanh(drive)
    reach = half * torch.sqrt((1.0 - tm * tm).clamp_min(0.0))
    vm_eff = torch.where(vm < 0, vm / 0.6, vm)
    gap = smoothstep(0.0, eps, reach - vm_eff.abs()) * mouth_window
    teeth = gap * (1.0 - smoothstep(0.0, 0.06, (vm_eff + reach) / s)) * smoothstep(0.0, 0.3, 1.0 - tm.abs())

    disp = ident.static + expr - cfg.eye_recess * aperture - cfg.mouth_recess * gap

    weights = flush_weights(emotion, valence, cfg)
    dh = torch.bmm(weights[:, None], ident.flush.reshape(b, -1, h * w)).view(b, 1, h, w)
    eps_h = torch.tensor(EPS_HAEMOGLOBIN).view(1, 3, 1, 1)
    albedo = ident.skin * torch.exp(-dh * eps_h)
    albedo = albedo + aperture * (ident.eye - albedo)
    albedo = albedo * (1.0 - 0.75 * lash)
    interior = torch.tensor(MOUTH_INTERIOR).view(1, 3, 1, 1)
    interior = interior + teeth * (torch.tensor(TEETH).view(1, 3, 1, 1) - interior)
    albedo = albedo + gap * (interior - albedo)
    albedo = albedo * (1.0 - cfg.crease_darkening * (-expr).clamp_min(0.0)).clamp_min(0.6)
    return {
        "albedo": albedo.clamp(0.0, 1.0),
        "displacement": disp,
        "normal": displacement_to_normal(disp, cfg.normal_strength),
        "landmarks": ident.landmarks.clone(),
    }
