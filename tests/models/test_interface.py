"""Every generator class implements the generator interface: its members, and encode/decode/edit = forward."""

from __future__ import annotations

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout
from aucgan.models.decomposed import DecomposedGenerator
from aucgan.models.generator import MapGenerator
from aucgan.models.interface import MEMBERS, Generator, GeneratorInterfaceError, check_generator
from aucgan.models.regional import RegionalGenerator
from aucgan.models.sean import RegionStyleGenerator

S, C, K, B = 16, 4, len(AU_NAMES), 3
SMALL = dict(num_aus=K, base_channels=8, max_channels=16, num_down=2, latent_dim=8, image_size=S, cond_hidden=8)


def _map(**kw) -> MapGenerator:
    return MapGenerator(C, C, **{**SMALL, **kw})


def _decomposed(**kw) -> DecomposedGenerator:
    geo = MapGenerator(C, 1, **{**SMALL, "conditioning": ["adain", "spade_au"], **kw})
    app = MapGenerator(C, 3, **{**SMALL, "num_aus": 2, "extra_dim": 3})
    return DecomposedGenerator(geo, app, AU_NAMES, slice(0, 1), slice(1, 4), albedo_aus=("AU25", "AU45"))


#: One tiny instance of every generator class (and of the designs that change what a call needs).
BUILDERS = {
    "map": lambda: _map(),
    "map-relative-residual-extra": lambda: _map(conditioning=["adain", "spade_au"], head="au_residual",
                                                au_mode="relative", extra_dim=2),
    "map-attention": lambda: _map(conditioning="concat_input", head="attention"),
    "map-bottleneck": lambda: _map(conditioning="concat_latent", architecture="bottleneck"),
    "regional": lambda: RegionalGenerator(_map(), AU_NAMES, local_channels=8, local_num_down=2),
    "regional-cascade": lambda: RegionalGenerator(_map(head="au_residual", au_mode="relative"), AU_NAMES,
                                                  local_channels=8, local_num_down=2, cascade_steps=2),
    "sean": lambda: RegionStyleGenerator(_map(conditioning=["adain", "spade_au"]), AU_NAMES, style_dim=8),
    "decomposed": lambda: _decomposed(au_mode="relative"),
}


def _inputs(G: Generator, seed: int = 0) -> dict:
    """A call's inputs chosen by the interface alone (what Editor and the ONNX export do)."""
    g = torch.Generator().manual_seed(seed)
    lm = torch.as_tensor(canonical_layout().landmarks, dtype=torch.float32).expand(B, 68, 2)
    return {"x": torch.rand(B, G.in_channels, S, S, generator=g) * 2 - 1,
            "au": torch.rand(B, G.num_aus, generator=g),
            "footprints": au_footprints(lm, (S, S)) if G.uses_footprints else None,
            "extra": torch.rand(B, G.extra_dim, generator=g) if G.extra_dim else None,
            "source_au": torch.rand(B, G.num_aus, generator=g) if G.needs_source_au else None}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_generator_implements_the_interface(name):
    torch.manual_seed(0)
    G = BUILDERS[name]().eval()
    assert isinstance(G, Generator) and check_generator(G) is G
    assert all(hasattr(G, m) for m in MEMBERS)
    assert G.num_aus == K and G.in_channels == C and G.out_channels == C and G.image_size == S
    inp = _inputs(G)
    with torch.no_grad():
        ref = G(inp["x"], inp["au"], inp["footprints"], inp["extra"], source_au=inp["source_au"])
        enc = G.encode(inp["x"])
        edited = G.edit(enc, inp["au"], inp["footprints"], inp["extra"], source_au=inp["source_au"])
        decoded = G.decode(enc, inp["au"], inp["footprints"], inp["extra"], source_au=inp["source_au"])
    assert ref["out"].shape == (B, C, S, S)
    assert torch.equal(edited["out"], ref["out"])
    if name == "regional-cascade":          # decode is one step of the two: a different (half-way) edit
        assert not torch.allclose(decoded["out"], ref["out"])
    else:
        assert torch.equal(decoded["out"], ref["out"])


def test_the_declared_needs_are_real():
    torch.manual_seed(0)
    G = BUILDERS["map-relative-residual-extra"]().eval()
    assert G.needs_source_au and G.uses_footprints and G.extra_dim == 2
    inp = _inputs(G)
    with pytest.raises(Exception, match="source_au"):
        G(inp["x"], inp["au"], inp["footprints"], inp["extra"])
    with pytest.raises(Exception, match="footprints"):
        G(inp["x"], inp["au"], None, inp["extra"], source_au=inp["source_au"])
    plain = BUILDERS["map"]()
    assert not plain.needs_source_au and not plain.uses_footprints and plain.extra_dim == 0


def test_a_module_without_the_interface_is_named():
    with pytest.raises(GeneratorInterfaceError,
                       match=r"export: Conv2d does not implement .*missing: num_aus, extra_dim, image_size"):
        check_generator(torch.nn.Conv2d(1, 1, 1), where="export")

    class HalfG(torch.nn.Module):
        in_channels = out_channels = num_aus = extra_dim = image_size = 1
        needs_source_au = uses_footprints = False
        residual_extra = ()

        def encode(self, x):
            return x

    with pytest.raises(GeneratorInterfaceError, match="missing: decode, edit"):
        check_generator(HalfG())
