"""DetailDecoder: DECA's architecture and keys exactly, import from a DECA checkpoint, AU conditioning that
starts at zero and then learns."""

from __future__ import annotations

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.deca import DetailDecoder, architecture_of, deca_keys, uv_footprints
from aucgan.deca.checkpoint import DecaCheckpointError
from aucgan.nn.layers import NetworkConfigError, ShapeError
from aucgan.nn.registry import UnknownNameError

from tests.deca.fakes import TINY_ARCH, au_variant, reference, write_deca_tar

CONDITIONINGS = [
    ("concat_latent", "direct"), ("adain", "direct"), ("cbn", "direct"), ("film", "direct"),
    ("spade_au", "direct"), (["adain", "spade_au"], "au_residual"), ([], "au_residual"),
    (["concat_latent", "adain"], "direct"),
]


def _inputs(batch=3, k=17, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 181, generator=gen), torch.rand(batch, k, generator=gen) * 5.0


@pytest.fixture(scope="module")
def deca_tar(tmp_path_factory):
    ref = reference(seed=3)
    path = write_deca_tar(tmp_path_factory.mktemp("deca") / "deca_model.tar", ref)
    return path, ref


@pytest.fixture(scope="module")
def fp256():
    return uv_footprints(None, AU_NAMES, size=256)


def test_keys_are_decas():
    dec = DetailDecoder(conditioning="adain")
    ref = reference()
    assert set(ref.state_dict()) == set(deca_keys())
    assert set(deca_keys()) <= set(dec.state_dict())
    expected_blocks = {0, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 21}
    assert {int(k.split(".")[1]) for k in deca_keys() if k.startswith("conv_blocks")} == expected_blocks
    assert dec.conv_blocks[3].eps == 0.8 and dec.conv_blocks[0].eps == 1e-5
    assert dec.output_size == 256


@pytest.mark.parametrize("conditioning,head", CONDITIONINGS)
def test_import_reproduces_deca(deca_tar, fp256, conditioning, head):
    path, ref = deca_tar
    dec = DetailDecoder.from_deca(path, au_names=AU_NAMES, conditioning=conditioning, head=head,
                                  footprints=fp256).eval()
    latent, au = _inputs()
    with torch.no_grad():
        want = ref(latent)
        got = dec(latent, au)
    assert got.shape == (3, 1, 256, 256)
    assert float(want.abs().max()) > 1e-3               # the reference is not trivially zero
    assert float((got - want).abs().max()) < 1e-5


def test_import_from_loaded_dicts(deca_tar):
    path, ref = deca_tar
    latent, au = _inputs()
    for source in (torch.load(path, weights_only=True), ref.state_dict(),
                   {"state_dict": {f"deca.D_detail.{k}": v for k, v in ref.state_dict().items()}}):
        dec = DetailDecoder.from_deca(source).eval()
        with torch.no_grad():
            assert float((dec(latent, au) - ref(latent)).abs().max()) < 1e-5


@pytest.mark.parametrize("au_input,scale", [("unit", 0.2), ("intensity", 1.0)])
def test_au_concat_variant_loads_with_its_scale(tmp_path, au_input, scale):
    ref = au_variant(num_aus=17, au_columns="random")
    path = write_deca_tar(tmp_path / "variant.tar", ref, training=False)
    dec = DetailDecoder.from_deca(path, conditioning="concat_latent", au_input=au_input).eval()
    latent, au = _inputs()
    with torch.no_grad():
        want = ref(torch.cat([latent, au * scale], dim=1))
        got = dec(latent, au)
        assert float((got - want).abs().max()) < 1e-5
        moved = dec(latent, au.flip(0))
    assert float((moved - got).abs().max()) > 1e-5     # the AU columns act
    with pytest.raises(DecaCheckpointError, match="include concat_latent"):
        DetailDecoder.from_deca(path, conditioning="adain")
    with pytest.raises(DecaCheckpointError, match=r"181 \+ 12"):
        DetailDecoder.from_deca(path, au_names="disfa12")


def test_emocas_identity_conditioned_decoder_is_named(tmp_path):
    path = write_deca_tar(tmp_path / "identity.tar", reference(latent_dim=181 + 100, **TINY_ARCH), training=False)
    with pytest.raises(DecaCheckpointError, match=r"takes 281 inputs.*FLAME shape code of EMOCA's identity-"
                                                  r"conditioned detail decoder") as info:
        DetailDecoder.from_deca(path)
    assert "pass the AU set" not in str(info.value)


def test_architecture_is_read_from_the_weights(tmp_path):
    ref = reference(seed=4, **TINY_ARCH)
    arch = architecture_of(ref.state_dict())
    assert arch == {"in_features": 181, "channels": (16, 16, 8, 8), "init_size": 4, "num_blocks": 3}
    dec = DetailDecoder.from_deca(ref.state_dict(), conditioning="adain").eval()
    latent, au = _inputs()
    with torch.no_grad():
        assert dec(latent, au).shape == (3, 1, 32, 32)
        assert float((dec(latent, au) - ref(latent)).abs().max()) < 1e-6


def test_deca_state_dict_round_trip(deca_tar):
    _, ref = deca_tar
    dec = DetailDecoder.from_deca(ref.state_dict(), conditioning="concat_latent")
    state = dec.deca_state_dict()
    assert set(state) == set(deca_keys()) and state["l1.0.weight"].shape == (8192, 181 + 17)
    back = au_variant(num_aus=17)
    back.load_state_dict(state)          # their AU-concat variant takes it as it is
    with pytest.raises(NetworkConfigError, match="only concat_latent"):
        DetailDecoder(conditioning="adain").deca_state_dict()


def test_refuses_what_is_not_a_deca_decoder(tmp_path, deca_tar):
    _, ref = deca_tar
    with pytest.raises(DecaCheckpointError, match="no such checkpoint"):
        DetailDecoder.from_deca(tmp_path / "missing.tar")
    torch.save({"E_flame": {"w": torch.ones(2)}}, tmp_path / "no_detail.tar")
    with pytest.raises(DecaCheckpointError, match="no D_detail"):
        DetailDecoder.from_deca(tmp_path / "no_detail.tar")
    state = dict(ref.state_dict())
    del state["conv_blocks.7.running_var"]
    with pytest.raises(DecaCheckpointError, match="missing conv_blocks.7.running_var"):
        DetailDecoder.from_deca({"D_detail": state})
    (tmp_path / "junk.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(DecaCheckpointError, match="not a readable torch checkpoint"):
        DetailDecoder.from_deca(tmp_path / "junk.tar")
    torch.save({"D_detail": ref.state_dict(), "config": _Opaque()}, tmp_path / "pickled.tar")
    with pytest.raises(DecaCheckpointError, match="refused"):
        DetailDecoder.from_deca(tmp_path / "pickled.tar")


class _Opaque:
    """An arbitrary object: torch.load(weights_only=True) must refuse to rebuild it."""


def test_bad_arguments_fail_loudly(fp256):
    with pytest.raises(UnknownNameError, match="valid conditioning names"):
        DetailDecoder(conditioning="nonsense")
    with pytest.raises(NetworkConfigError, match="no input maps"):
        DetailDecoder(conditioning="concat_input")
    with pytest.raises(NetworkConfigError, match="needs the AU footprints"):
        DetailDecoder(conditioning="spade_au")
    with pytest.raises(ShapeError, match="footprints must be"):
        DetailDecoder(conditioning="spade_au", footprints=fp256[:3])
    with pytest.raises(NetworkConfigError, match="au_input"):
        DetailDecoder(au_input="percent")
    dec = DetailDecoder(conditioning="adain")
    with pytest.raises(ShapeError, match="au"):
        dec(torch.zeros(2, 181), torch.zeros(2, 12))
    with pytest.raises(ShapeError, match="source_au given"):
        dec(torch.zeros(2, 181), torch.zeros(2, 17), source_au=torch.zeros(2, 17))


def test_change_mode_residual_is_local():
    fp = uv_footprints(None, AU_NAMES, size=32)
    dec = DetailDecoder(conditioning=[], head="au_residual", residual_mode="change", footprints=fp,
                        **TINY_ARCH).eval()
    torch.nn.init.normal_(dec.residual.weight, std=0.5)
    latent, au = _inputs(batch=1)
    with torch.no_grad():
        base = dec(latent, au, source_au=au)
        k = AU_NAMES.index("AU12")
        moved = au.clone()
        moved[0, k] = 5.0 - moved[0, k]
        out = dec(latent, moved, source_au=au)
    change = (out - base).abs()[0, 0]
    assert float(change.max()) > 0
    assert float(change[fp[k] == 0].max()) == 0.0        # nothing moves outside AU12's footprint
    with pytest.raises(ShapeError, match="needs source_au"):
        dec(latent, au)


@pytest.mark.parametrize("conditioning,head", [("concat_latent", "direct"), ("adain", "direct"),
                                               ("spade_au", "direct"), ([], "au_residual")])
def test_conditioning_learns_an_au_effect(conditioning, head):
    """From an imported (AU-blind) decoder, a few Adam steps on the new parameters only make the output
    follow an AU: the zero start does not block learning."""
    torch.manual_seed(0)
    fp = uv_footprints(None, AU_NAMES, size=32)
    ref = reference(seed=5, **TINY_ARCH)
    dec = DetailDecoder.from_deca(ref.state_dict(), conditioning=conditioning, head=head, footprints=fp).eval()
    new = [p for n, p in dec.named_parameters() if not n.startswith(("l1.", "conv_blocks."))]
    if conditioning == "concat_latent":                # only the AU columns of l1.0.weight are new
        new = [dec.l1[0].weight]
        mask = torch.zeros_like(dec.l1[0].weight)
        mask[:, 181:] = 1.0
        dec.l1[0].weight.register_hook(lambda g: g * mask)
    opt = torch.optim.Adam(new, lr=1e-2)
    latent = torch.randn(8, 181)
    au = torch.zeros(8, 17)
    au[4:, AU_NAMES.index("AU12")] = 5.0
    with torch.no_grad():
        target = ref(latent) + 0.002 * (au[:, AU_NAMES.index("AU12"), None, None, None] / 5.0) * fp[8]
        start = float(((dec(latent, au) - target) / 0.01).pow(2).mean())
    for _ in range(40):
        loss = ((dec(latent, au) - target) / 0.01).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = float(((dec(latent, au) - target) / 0.01).pow(2).mean())
        effect = float((dec(latent[:1], au[4:5]) - dec(latent[:1], au[:1])).abs().max())
    assert end < 0.8 * start
    assert effect > 1e-4


def test_blendshapes_start_at_deca_and_are_the_same_for_everyone(deca_tar):
    """decoder.blendshapes: zero at import (DECA's output exactly), then an AU's change is s B_1 + s^2 B_2 with
    s = AU / 5, whatever the codes (the population's effect, not the person's)."""
    path, ref = deca_tar
    dec = DetailDecoder.from_deca(path, conditioning=[], head="direct", blendshapes=2).eval()
    latent, au = _inputs()
    with torch.no_grad():
        assert torch.equal(dec(latent, au), ref(latent))
        torch.nn.init.normal_(dec.blendshapes, std=0.3)
        k = AU_NAMES.index("AU12")
        moved = au.clone()
        moved[:, k] = 4.0
        change = dec(latent, moved) - dec(latent, au)
        b = dec.blendshapes[k]
        s0, s1 = au[:, k] / 5.0, torch.full_like(au[:, k], 0.8)
        want = ((s1 - s0)[:, None, None] * b[0] + (s1 ** 2 - s0 ** 2)[:, None, None] * b[1]) * dec.out_scale
    torch.testing.assert_close(change[:, 0], want, rtol=1e-4, atol=1e-7)
    assert dec.config()["blendshapes"] == 2
    with pytest.raises(NetworkConfigError, match="blendshapes"):
        dec.deca_state_dict()
    with pytest.raises(NetworkConfigError, match="blendshapes is the number"):
        DetailDecoder(conditioning=[], blendshapes=-1)
    with pytest.raises(NetworkConfigError, match="at least one unless"):
        DetailDecoder(conditioning=[], head="direct")


def test_blendshapes_learn_the_average_au_effect():
    """Fitted to people whose AU12 fold differs a little (a per-person depth), the blendshapes of a decoder that
    never sees the AUs elsewhere converge to the people's average change - for a new person too."""
    torch.manual_seed(0)
    ref = reference(seed=5, **TINY_ARCH)
    dec = DetailDecoder.from_deca(ref.state_dict(), conditioning=[], head="direct", blendshapes=1).eval()
    fold = uv_footprints(None, AU_NAMES, size=32)[AU_NAMES.index("AU12")]
    latent = torch.randn(16, 181)
    au = torch.zeros(16, 17)
    au[8:, AU_NAMES.index("AU12")] = 5.0
    depth = 0.002 * (1.0 + 0.2 * torch.linspace(-1, 1, 8).repeat(2))[:, None, None, None]
    with torch.no_grad():
        target = ref(latent) + depth * (au[:, AU_NAMES.index("AU12"), None, None, None] / 5.0) * fold
    opt = torch.optim.Adam([dec.blendshapes], lr=5e-2)
    for _ in range(150):
        loss = ((dec(latent, au) - target) / 0.01).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    stranger = torch.randn(1, 181)
    with torch.no_grad():
        edit = dec(stranger, au[8:9]) - dec(stranger, au[:1])
    torch.testing.assert_close(edit[0, 0], 0.002 * fold, rtol=0.0, atol=2e-5)
