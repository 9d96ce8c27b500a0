"""The deca preset: fine-tuning an imported decoder (step 0 is DECA), exact resume, a frozen base, the
optional AU estimator and discriminator, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from aucgan.config.loading import load_config
from aucgan.config.schema import ConfigError, TrainConfig
from aucgan.deca.batches import DecaTrainData
from aucgan.deca.build import build_decoder, build_models, load_deca_run
from aucgan.deca.config import DecaTrainConfig, load_deca_config
from aucgan.deca.data import open_deca_data
from aucgan.deca.decoder import deca_keys
from aucgan.deca.prepare import prepare_deca
from aucgan.deca.train import base_parameters, train_deca
from aucgan.errors import AucganError
from aucgan.rundir.checkpoints import latest_checkpoint

from tests.deca.fakes import (
    TINY_ARCH,
    reference,
    write_deca_tar,
    write_emoca_codes,
    write_openface_per_image,
)

TINY = ["data.batch_size=4", "log_every=1", "sample_every=2", "ckpt_every=2", "tensorboard=false",
        "decoder.cond_levels=null", "discriminator.num_down=3", "discriminator.base_channels=8"]
ALL_TERMS = ["loss.w_cross=1", "loss.w_edit=1", "data.code_dropout=0.5", "data.code_noise=0.2", "data.au_gate=0.5",
             "loss.w_adv=1", "loss.w_d_mismatch=1", "loss.w_au_disc=1", "loss.r1_gamma=1", "loss.r1_every=2",
             "loss.w_z_sym=0.01"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """3 people x 3 images, codes decoded to 32 px uv_z by a tiny DECA decoder."""
    t = tmp_path_factory.mktemp("train")
    ref = reference(seed=6, **TINY_ARCH)
    write_deca_tar(t / "deca_model.tar", ref)
    names = [f"p{i % 3}_im{i}" for i in range(9)]
    for i, name in enumerate(names):
        write_emoca_codes(t / "codes" / f"p{i % 3}", [name], offset=i)
    write_openface_per_image(t / "of", names)
    prepare_deca(t / "data", t / "of", codes=t / "codes", decoder=t / "deca_model.tar")
    return t, ref


def _cfg(t, *extra):
    return load_deca_config("deca", [f"decoder.checkpoint={t / 'deca_model.tar'}", *TINY, *extra])


def test_preset_and_schema():
    cfg = load_deca_config("deca")
    assert cfg.decoder.conditioning == ("adain", "spade_au") and cfg.decoder.head == "au_residual"
    assert cfg.decoder.blendshapes == 2 and cfg.loss.w_edit > 0 and cfg.loss.w_blendshape_l1 > 0   # the measured recipe
    assert cfg.loss.w_z_sym == 0.0 and cfg.loss.w_z_reg == 0.005 and cfg.loss.w_detail > 0
    with pytest.raises(ConfigError, match="unknown key"):
        load_config("deca", schema=TrainConfig)          # the map trainer's schema does not read it
    with pytest.raises(ConfigError, match="--aunet"):
        load_deca_config("deca", ["loss.w_au=1"])
    with pytest.raises(ConfigError, match="data.target_mode: 'prototype' is not valid"):
        load_deca_config("deca", ["data.target_mode=prototype"])
    dec, D = build_models(cfg)                           # no checkpoint: DECA's architecture, 256 px
    assert dec.output_size == 256 and dec.footprints.shape == (17, 256, 256)
    assert D(torch.zeros(1, 1, 256, 256), torch.zeros(1, 17)).score.shape == (1,)


def test_choices_are_checked_at_load_and_match_the_code():
    import dataclasses
    import typing

    from aucgan.deca import config as DC
    from aucgan.deca.decoder import AU_INPUTS, HEADS, RESIDUAL_MODES
    from aucgan.nn.conditioning import CONDITIONING

    levelwise = [n for n in CONDITIONING.names() if CONDITIONING.get(n).injection in ("norm", "spatial")]
    for literal, names in ((DC.DecoderConditioning, ["concat_latent", *levelwise]), (DC.DecoderHead, HEADS),
                           (DC.ResidualMode, RESIDUAL_MODES), (DC.AUInput, AU_INPUTS), (DC.DecaTargetMode,
                                                                                      ["shuffle", "own"])):
        assert sorted(typing.get_args(literal)) == sorted(names), literal
    with pytest.raises(ConfigError, match="valid values: concat_latent, adain"):
        load_deca_config("deca", ["decoder.conditioning=[concat_input]"])
    free = set()

    def walk(cls, prefix):
        for f in dataclasses.fields(cls):
            tp = typing.get_type_hints(cls)[f.name]
            for t in [a for a in typing.get_args(tp) if a is not type(None)] or [tp]:
                if dataclasses.is_dataclass(t):
                    walk(t, f"{prefix}{f.name}.")
                elif t is str:
                    free.add(prefix + f.name)

    walk(DecaTrainConfig, "")
    assert free == {"name", "device", "aunet", "decoder.checkpoint", "decoder.layout", "decoder.mask"}


def test_step_zero_is_deca(setup):
    t, ref = setup
    dec = build_decoder(_cfg(t)).eval()
    latent, au = torch.randn(3, 181), torch.rand(3, 17) * 5
    with torch.no_grad():
        assert float((dec(latent, au) - ref(latent)).abs().max()) < 1e-6


def test_detail_swap_keeps_expression(setup):
    t, _ = setup
    data = open_deca_data(t / "data")
    td = DecaTrainData(data)
    b = td.random_batch(6, torch.Generator().manual_seed(1), "shuffle", 0.0)
    parts = data.parts
    assert torch.equal(b.swapped[:, :parts["exp"].stop], b.latent[:, :parts["exp"].stop])
    assert bool(b.has_partner.all()) and float((b.swapped - b.latent).abs().sum()) > 0
    ids = data.identity_index()
    det = parts["detail"]
    for row in range(6):   # the swapped detail code belongs to another image of the same person
        own = int(torch.nonzero((td.latents == b.latent[row]).all(1))[0])
        donor = [j for j in range(len(data)) if torch.equal(td.latents[j, det], b.swapped[row, det])]
        assert len(donor) == 1 and donor[0] != own and ids[donor[0]] == ids[own]


def test_partner_codes_and_expression_code_dropout(setup):
    t, _ = setup
    data = open_deca_data(t / "data")
    td = DecaTrainData(data)
    ids, parts = data.identity_index(), data.parts
    plain = td.random_batch(6, torch.Generator().manual_seed(1), "shuffle", 0.0)
    for row in range(6):   # the partner is another image of the same person, with its own AUs
        own = int(torch.nonzero((td.latents == plain.latent[row]).all(1))[0])
        donor = int(torch.nonzero((td.latents == plain.partner[row]).all(1))[0])
        assert donor != own and ids[donor] == ids[own] and torch.equal(plain.partner_au[row], td.au[donor])
        assert torch.equal(plain.swapped[row, parts["detail"]], plain.partner[row, parts["detail"]])
    same = td.random_batch(6, torch.Generator().manual_seed(1), "shuffle", 0.0, 0.0, 0.0)
    assert all(torch.equal(getattr(plain, k), getattr(same, k)) for k in vars(plain))   # options off: unchanged
    dropped = td.random_batch(6, torch.Generator().manual_seed(1), "shuffle", 0.0, code_dropout=1.0)
    codes = slice(0, parts["exp"].stop)
    for lat in (dropped.latent, dropped.swapped, dropped.partner):
        assert torch.allclose(lat[:, codes], td.code_mean[codes].expand(6, -1))
    assert torch.equal(dropped.latent[:, parts["detail"]], plain.latent[:, parts["detail"]])
    noisy = td.random_batch(6, torch.Generator().manual_seed(1), "shuffle", 0.0, code_noise=0.5)
    moved = (noisy.latent - plain.latent).abs()
    assert float(moved[:, codes].min()) > 0 and float(moved[:, parts["detail"]].max()) == 0
    with pytest.raises(ConfigError, match="code_dropout is a probability"):
        load_deca_config("deca", ["data.code_dropout=1.5"])


def test_au_gate_zeroes_low_readings_only(setup):
    """data.au_gate: readings below the gate become 0 (absent), the others stay as read; 0 changes nothing."""
    t, _ = setup
    data = open_deca_data(t / "data")
    raw = torch.from_numpy(data.au.copy())
    assert torch.equal(DecaTrainData(data).au, raw)
    gated = DecaTrainData(data, au_gate=1.0).au
    low = raw < 1.0
    assert bool(low.any()) and bool((~low).any())
    assert float(gated[low].abs().max()) == 0.0 and torch.equal(gated[~low], raw[~low])
    with pytest.raises(ConfigError, match="au_gate is an AU intensity"):
        load_deca_config("deca", ["data.au_gate=6"])


def test_deca_weights_learn_at_their_own_rate(setup, tmp_path):
    """decoder.base_lr_scale: DECA's own weights move by that share of the new conditioning's learning rate."""
    t, _ = setup
    moved = {}
    for scale in (1.0, 1e-4):
        cfg = _cfg(t, "steps=2", f"decoder.base_lr_scale={scale}", "optim.ema_decay=0")
        train_deca(cfg, t / "data", tmp_path / str(scale), progress=False)
        g = load_file(str(latest_checkpoint(tmp_path / str(scale)) / "G.safetensors"))
        dec = build_decoder(cfg)
        start, base = dec.state_dict(), set(base_parameters(dec))
        new = {n for n, _ in dec.named_parameters()} - base       # parameters only (BatchNorm statistics move anyway)
        moved[scale] = (sum(float((g[k] - start[k]).abs().sum()) for k in base),
                        sum(float((g[k] - start[k]).abs().sum()) for k in new))
    assert moved[1e-4][0] < 1e-2 * moved[1.0][0]          # DECA's weights barely move
    assert moved[1e-4][1] > 0.3 * moved[1.0][1] > 0        # the conditioning learns as before
    with pytest.raises(ConfigError, match="base_lr_scale must be > 0"):
        load_deca_config("deca", ["decoder.base_lr_scale=0"])


def test_blendshapes_train_at_the_au_rate_and_load_back(setup, tmp_path):
    """decoder.blendshapes: new AU parameters (the conditioning's rate, not DECA's), saved and rebuilt with the run;
    a decoder with only blendshapes (no conditioning layer) trains too."""
    t, _ = setup
    cfg = _cfg(t, "steps=2", "decoder.blendshapes=2", "decoder.conditioning=[]", "decoder.head=direct")
    dec = build_decoder(cfg)
    assert "blendshapes" not in base_parameters(dec) and dec.blendshapes.shape == (17, 2, 32, 32)
    train_deca(cfg, t / "data", tmp_path / "run", progress=False)
    loaded, loaded_cfg, step = load_deca_run(tmp_path / "run")
    assert step == 2 and loaded_cfg == cfg and loaded.num_blendshapes == 2
    assert float(loaded.blendshapes.abs().sum()) > 0
    with pytest.raises(ConfigError, match="decoder.blendshapes"):
        load_deca_config("deca", ["decoder.blendshapes=-1"])


def test_train_and_resume_exactly(setup, tmp_path):
    t, _ = setup
    cfg = _cfg(t, "steps=4", *ALL_TERMS)
    full = train_deca(cfg, t / "data", tmp_path / "full", progress=False)
    train_deca(cfg, t / "data", tmp_path / "split", progress=False, stop_at=2)
    train_deca(cfg, t / "data", tmp_path / "split", resume=True, progress=False)
    assert full.step == 4
    for name in ("G", "G_ema", "D"):
        a = load_file(str(latest_checkpoint(tmp_path / "full") / f"{name}.safetensors"))
        b = load_file(str(latest_checkpoint(tmp_path / "split") / f"{name}.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    lines = [json.loads(x) for x in (tmp_path / "full" / "stats.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    for key in ("G/rec", "G/detail", "G/cross", "G/edit", "G/z_reg", "G/z_diff", "G/z_sym", "G/adv", "G/dau_mse",
                "D/adv", "D/mismatch", "D/au_mse"):
        assert all(isinstance(x.get(key), float) for x in lines), key
    assert sum("D/r1" in x for x in lines) == 2
    assert (tmp_path / "full" / "samples" / "step-000004.png").is_file()
    dec, loaded_cfg, step = load_deca_run(tmp_path / "full")
    assert step == 4 and loaded_cfg == cfg and dec.conditioning == ("adain", "spade_au")
    g = load_file(str(latest_checkpoint(tmp_path / "full") / "G.safetensors"))
    start = build_decoder(cfg).state_dict()
    assert any(not torch.equal(g[k], start[k]) for k in deca_keys(dec.num_blocks) if k in g)   # DECA's weights learn


def test_frozen_base_trains_only_the_conditioning(setup, tmp_path):
    t, _ = setup
    cfg = _cfg(t, "steps=3", "decoder.train_base=false", "decoder.conditioning=[concat_latent,adain]",
               "decoder.head=direct", "optim.lr_g=0.01")
    train_deca(cfg, t / "data", tmp_path / "run", progress=False)
    start = build_decoder(cfg).state_dict()
    end = load_file(str(latest_checkpoint(tmp_path / "run") / "G.safetensors"))
    for key in deca_keys(3):
        if key == "l1.0.weight":
            assert torch.equal(end[key][:, :181], start[key][:, :181])
            assert not torch.equal(end[key][:, 181:], start[key][:, 181:])
        else:
            assert torch.equal(end[key], start[key]), key       # weights and BatchNorm statistics kept
    assert any(not torch.equal(end[k], start[k]) for k in end if k.startswith("modulation."))


def test_au_estimator_on_uv_z(setup, tmp_path):
    from aucgan.config.schema import AUNetTrainConfig
    from aucgan.training.aunet_loop import train_aunet

    t, _ = setup
    acfg = load_config("aunet", ["steps=3", "data.size=32", "data.maps=[displacement]", "data.disp_scale=0.01",
                                 "aunet.base_channels=8", "aunet.depth=3", "batch_size=4"], schema=AUNetTrainConfig)
    train_aunet(acfg, t / "data", tmp_path / "aunet", progress=False, holdout_fraction=0.34)
    cfg = _cfg(t, "steps=2", f"aunet={tmp_path / 'aunet'}", "loss.w_au=1")
    result = train_deca(cfg, t / "data", tmp_path / "run", progress=False)
    assert result.last_stats["G/aunet_mse"] > 0
    other = load_config("aunet", ["steps=1", "data.size=32", "data.maps=[displacement]", "data.au_set=disfa12",
                                  "aunet.base_channels=8", "aunet.depth=3", "batch_size=4"], schema=AUNetTrainConfig)
    train_aunet(other, t / "data", tmp_path / "aunet12", progress=False, holdout_fraction=0.34)
    with pytest.raises(AucganError, match="predicts disfa12"):
        train_deca(_cfg(t, "steps=1", f"aunet={tmp_path / 'aunet12'}", "loss.w_au=1"), t / "data",
                   tmp_path / "run12", progress=False)


def test_clear_errors(setup, tmp_path):
    t, _ = setup
    with pytest.raises(AucganError, match="has none"):
        train_deca(_cfg(t, "steps=1", "loss.w_au_disc=1", "discriminator.kind=projection"), t / "data",
                   tmp_path / "a", progress=False)
    names = ["solo_a", "solo_b"]
    write_emoca_codes(tmp_path / "codes", names)
    write_openface_per_image(tmp_path / "of", names)
    prepare_deca(tmp_path / "solo", tmp_path / "of", codes=tmp_path / "codes", decoder=t / "deca_model.tar")
    with pytest.raises(AucganError, match="so loss.w_detail and loss.w_edit .* set loss.w_detail=0 and "
                                         "loss.w_edit=0"):
        train_deca(_cfg(t, "steps=1"), tmp_path / "solo", tmp_path / "b", progress=False)
    assert train_deca(_cfg(t, "steps=1", "loss.w_detail=0", "loss.w_edit=0"), tmp_path / "solo", tmp_path / "c",
                      progress=False).step == 1
    big = load_deca_config("deca", TINY + ["steps=1"])    # DECA's 256 px decoder, 32 px data
    with pytest.raises(AucganError, match="32 px, the decoder makes 256 px"):
        train_deca(big, t / "data", tmp_path / "d", progress=False)
    assert np.isfinite(open_deca_data(t / "data").au).all()


def test_the_face_mask_reaches_the_reconstruction(setup, tmp_path):
    """decoder.mask (DECA's face mask) limits the reconstruction and z_reg: with the left half masked out the
    first step's terms (before any update: the new conditioning starts at zero, so the masked footprints do not
    act yet) differ from an unmasked run's, and a mask of ones changes nothing."""
    from PIL import Image

    t, _ = setup
    ones = np.full((32, 32, 4), 255, np.uint8)
    half = ones.copy()
    half[:, :16, 0] = 0
    Image.fromarray(ones).save(tmp_path / "ones.png")
    Image.fromarray(half).save(tmp_path / "half.png")
    runs = {name: train_deca(_cfg(t, "steps=1", *extra), t / "data", tmp_path / name, progress=False).last_stats
            for name, extra in (("plain", ()), ("ones", (f"decoder.mask={tmp_path / 'ones.png'}",)),
                                ("half", (f"decoder.mask={tmp_path / 'half.png'}",)))}
    assert runs["ones"]["G/rec"] == runs["plain"]["G/rec"] and runs["ones"]["G/z_reg"] == runs["plain"]["G/z_reg"]
    assert runs["half"]["G/rec"] != runs["plain"]["G/rec"] and runs["half"]["G/z_reg"] != runs["plain"]["G/z_reg"]
