"""The DECA objective: reconstruction and z_reg count only inside DECA's face mask (DECA discards uv_z outside
it), and the face mask comes from the layout and decoder.mask as the footprints do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aucgan.config.schema import ConfigError
from aucgan.deca.batches import DecaBatch
from aucgan.deca.build import face_mask
from aucgan.deca.config import load_deca_config
from aucgan.deca.losses import z_reg
from aucgan.deca.objective import DecaObjective
from aucgan.layout.landmarks import canonical_layout

S = 16


class FixedDecoder(nn.Module):
    """A stand-in decoder whose output is ``base``, plus ``outside`` where the mask is 0."""

    needs_source_au = False
    out_scale = 0.01

    def __init__(self, base: torch.Tensor, outside: torch.Tensor) -> None:
        super().__init__()
        self.base, self.outside = base, outside

    def forward(self, latent, au, source_au=None):
        return self.base + self.outside


def _mask() -> torch.Tensor:
    m = torch.zeros(1, 1, S, S)
    m[..., 4:12, 3:13] = 1.0
    m[..., 4:12, 2] = 0.5          # a soft border counts by its weight
    return m


def _batch(uv: torch.Tensor) -> DecaBatch:
    b = uv.shape[0]
    au = torch.rand(b, 17, generator=torch.Generator().manual_seed(1)) * 5
    return DecaBatch(latent=torch.zeros(b, 4), au=au, uv=uv, swapped=torch.zeros(b, 4),
                     has_partner=torch.zeros(b, dtype=torch.bool), target=au, mismatched=au,
                     partner=torch.zeros(b, 4), partner_au=au, partner_uv=uv)


def _terms(mask, uv_outside: float, rec_outside: float) -> dict[str, float]:
    cfg = load_deca_config("deca", ["loss.w_detail=0", "loss.w_z_diff=0"])
    g = torch.Generator().manual_seed(0)
    base_uv = 0.01 * torch.randn(3, 1, S, S, generator=g)
    base_rec = 0.01 * torch.randn(3, 1, S, S, generator=g)
    outside = (_mask() == 0).float()          # where DECA discards uv_z
    dec = FixedDecoder(base_rec, rec_outside * outside)
    objective = DecaObjective(dec, None, None, 1.0, cfg, mask)
    _, scalars = objective.generator_phase(_batch(base_uv + uv_outside * outside))
    return scalars


def test_rec_and_z_reg_ignore_uv_z_outside_the_mask():
    mask = _mask()
    a = _terms(mask, 0.0, 0.0)
    b = _terms(mask, 0.05, -0.03)             # uv_z (data and decoder output) changed outside the mask only
    assert a["G/rec"] == pytest.approx(b["G/rec"], rel=1e-6) and a["G/z_reg"] == pytest.approx(b["G/z_reg"], rel=1e-6)
    c = _terms(None, 0.0, 0.0)                # without a mask the same change counts
    d = _terms(None, 0.05, -0.03)
    assert d["G/rec"] > c["G/rec"] * 1.5 and d["G/z_reg"] > c["G/z_reg"] * 1.5


def test_z_reg_is_the_masked_mean():
    uv = torch.randn(2, 1, S, S)
    m = _mask()
    expected = (uv.abs() * m).sum() / (m.sum() * 2)
    assert float(z_reg(uv, m)[0]) == pytest.approx(float(expected), rel=1e-6)
    assert torch.equal(z_reg(uv)[0], uv.abs().mean())


def test_face_mask_from_the_layout_and_a_mask_image(tmp_path):
    assert face_mask(None, None, S) is None                    # the canonical layout has no raster mask
    ones = np.full((32, 32, 4), 255, np.uint8)
    Image.fromarray(ones).save(tmp_path / "ones.png")
    assert face_mask(None, tmp_path / "ones.png", S) is None   # a mask that keeps everything leaves nothing out
    half = ones.copy()
    half[:, :16, 0] = 0
    Image.fromarray(half).save(tmp_path / "half.png")
    m = face_mask(None, tmp_path / "half.png", S)
    assert m.shape == (1, 1, S, S) and float(m[..., :8].max()) == 0.0 and float(m[..., 8:].min()) == 1.0
    raster = np.zeros((32, 32), np.float32)
    raster[8:24, 8:24] = 1.0
    layout = canonical_layout()
    layout = type(layout)(name="masked", size=layout.size, landmarks=layout.landmarks, mask_image=raster)
    path = tmp_path / "layout.json"
    path.write_text(json.dumps(layout.to_json()))
    both = face_mask(path, tmp_path / "half.png", S)
    assert float(both[..., 5:11, 9:11].min()) == 1.0 and float(both[..., :, :8].max()) == 0.0
    assert float(both[..., :2, :].max()) == 0.0                # outside the layout's raster mask


class CodeDecoder(nn.Module):
    """uv_z = the person's map (latent[:, 0]) + the expression read from the AUs or from the code."""

    needs_source_au = False
    out_scale = 0.01

    def __init__(self, pattern: torch.Tensor, reads: str) -> None:
        super().__init__()
        self.pattern, self.reads = pattern, reads

    def forward(self, latent, au, source_au=None):
        expression = au[:, :1] if self.reads == "aus" else latent[:, 1:2]
        return 0.01 * (latent[:, :1] + expression)[..., None, None] * self.pattern


def test_cross_expression_term_rewards_following_the_aus():
    """Another image of the person, its codes kept and this image's AUs given, must give this image's uv_z: zero
    for a decoder that reads the expression from the AUs, not for one that reads it from the expression code."""
    pattern = torch.rand(1, 1, S, S, generator=torch.Generator().manual_seed(3))
    person = torch.tensor([[1.0], [2.0], [3.0]])
    au = torch.tensor([[1.0], [4.0], [2.5]]).repeat(1, 17)
    partner_au = torch.tensor([[3.0], [0.0], [5.0]]).repeat(1, 17)
    latent = torch.cat([person, au[:, :1]], 1)                  # the code describes the image's own expression
    partner = torch.cat([person, partner_au[:, :1]], 1)
    uv = 0.01 * (person + au[:, :1])[..., None, None] * pattern
    partner_uv = 0.01 * (person + partner_au[:, :1])[..., None, None] * pattern
    batch = DecaBatch(latent=latent, au=au, uv=uv, swapped=latent, has_partner=torch.ones(3, dtype=torch.bool),
                      target=au, mismatched=au, partner=partner, partner_au=partner_au, partner_uv=partner_uv)
    cfg = load_deca_config("deca", ["loss.w_detail=0", "loss.w_z_diff=0", "loss.w_z_reg=0", "loss.w_cross=1"])
    follows = DecaObjective(CodeDecoder(pattern, "aus"), None, None, 1.0, cfg).generator_phase(batch)[1]
    ignores = DecaObjective(CodeDecoder(pattern, "code"), None, None, 1.0, cfg).generator_phase(batch)[1]
    assert follows["G/rec"] < 1e-6 and ignores["G/rec"] < 1e-6     # both reconstruct their own images
    assert follows["G/cross"] < 1e-6 and ignores["G/cross"] > 0.5


class MisplacedPerson(CodeDecoder):
    """Follows the AUs but gets every person's own map wrong by a fixed offset."""

    def forward(self, latent, au, source_au=None):
        return super().forward(latent, au) + 0.004 * latent[:, :1, None, None]


def test_paired_edit_term_sees_the_change_alone():
    """loss.w_edit: the decoder's change at the partner's codes (its AUs -> this image's) against the true change
    between the two images - zero for a decoder that follows the AUs even when it misplaces the person (the
    cross-expression term is not), positive for one that reads the expression code."""
    pattern = torch.rand(1, 1, S, S, generator=torch.Generator().manual_seed(3))
    person = torch.tensor([[1.0], [2.0], [3.0]])
    au = torch.tensor([[1.0], [4.0], [2.5]]).repeat(1, 17)
    partner_au = torch.tensor([[3.0], [0.0], [5.0]]).repeat(1, 17)
    uv = 0.01 * (person + au[:, :1])[..., None, None] * pattern
    partner_uv = 0.01 * (person + partner_au[:, :1])[..., None, None] * pattern
    batch = DecaBatch(latent=torch.cat([person, au[:, :1]], 1), au=au, uv=uv, swapped=torch.cat([person, au[:, :1]], 1),
                      has_partner=torch.ones(3, dtype=torch.bool), target=au, mismatched=au,
                      partner=torch.cat([person, partner_au[:, :1]], 1), partner_au=partner_au, partner_uv=partner_uv)
    cfg = load_deca_config("deca", ["loss.w_detail=0", "loss.w_z_diff=0", "loss.w_z_reg=0", "loss.w_cross=1",
                                    "loss.w_edit=1"])
    misplaced = DecaObjective(MisplacedPerson(pattern, "aus"), None, None, 1.0, cfg).generator_phase(batch)[1]
    ignores = DecaObjective(CodeDecoder(pattern, "code"), None, None, 1.0, cfg).generator_phase(batch)[1]
    assert misplaced["G/edit"] < 1e-6 and misplaced["G/cross"] > 0.1
    assert ignores["G/edit"] > 0.5


def test_blendshape_sparsity_reaches_only_the_blendshapes():
    """loss.w_blendshape_l1 pulls the decoder's AU blendshapes towards zero (and nothing else); a config that asks
    for it without blendshapes is refused."""
    from aucgan.deca.decoder import DetailDecoder

    dec = DetailDecoder(conditioning=[], head="direct", channels=[8, 4, 4], init_size=4, blendshapes=2)
    with torch.no_grad():
        dec.blendshapes.fill_(0.5)
    uv = torch.zeros(3, 1, S, S)
    batch = DecaBatch(latent=torch.zeros(3, 181), au=torch.zeros(3, 17), uv=uv, swapped=torch.zeros(3, 181),
                      has_partner=torch.zeros(3, dtype=torch.bool), target=torch.zeros(3, 17),
                      mismatched=torch.zeros(3, 17), partner=torch.zeros(3, 181), partner_au=torch.zeros(3, 17),
                      partner_uv=uv)
    grads = {}
    for w in (0.0, 1.0):
        cfg = load_deca_config("deca", ["loss.w_detail=0", "loss.w_z_diff=0", "loss.w_z_reg=0", "loss.w_cross=0",
                                        "decoder.blendshapes=2", f"loss.w_blendshape_l1={w}"])
        dec.zero_grad()
        total, scalars = DecaObjective(dec, None, None, 1.0, cfg).generator_phase(batch)
        total.backward()
        grads[w] = dec.blendshapes.grad.clone()
    assert float(grads[0.0].abs().max()) == 0.0            # AUs at zero: the reconstruction does not reach them
    assert bool((grads[1.0] > 0).all()) and scalars["G/blendshape_l1"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="decoder has none"):
        load_deca_config("deca", ["decoder.blendshapes=0"])          # the preset keeps them sparse
