"""The loss wiring inside GANObjective: each configured term shows in the stats when its weight is > 0, is
absent at weight 0, and moves the gradient of the networks it should (tiny networks, 32 px)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.config.schema import LossConfig
from aucgan.data.batch import Batch
from aucgan.data.codec import MapCodec
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout
from aucgan.losses.objective import GANObjective
from aucgan.models.aunet import AUNet
from aucgan.models.discriminator import build_discriminator
from aucgan.models.generator import MapGenerator
from aucgan.models.patch import GlobalLocalDiscriminator, LocalDiscriminators
from aucgan.models.shaded import ShadedAUNet
from aucgan.render.shaded import Renderer

SIZE, B, K = 32, 2, len(AU_NAMES)
CODEC = MapCodec(("displacement", "albedo"), disp_scale=0.02)
REGIONS = ("brows", "mouth")
#: Every optional term off: what is left is the adversarial game.
BASE = LossConfig(w_au=0.0, w_d_au=0.0, w_rec=0.0, w_patch_adv=0.0, w_patch_au=0.0)

# (term, settings that switch it on, phase, stats it adds, the network part whose gradient it moves)
TERMS = [
    ("AU through the estimator", dict(w_au=1.0, au_source="aunet"), "G", ["G/aunet_mse", "G/aunet_mae"], "G"),
    ("AU through D's aux head", dict(w_au=1.0, au_source="disc"), "G", ["G/dau_mse", "G/dau_mae"], "G"),
    ("AU through both", dict(w_au=1.0, au_source="both"), "G", ["G/aunet_mse", "G/dau_mse"], "G"),
    ("reconstruction", dict(w_rec=1.0), "G", ["G/rec"], "G"),
    ("shaded reconstruction", dict(w_shaded_rec=1.0), "G", ["G/shaded_rec"], "G"),
    ("cycle", dict(w_cycle=1.0), "G", ["G/cycle"], "G"),
    ("detail consistency", dict(w_detail=1.0), "G", ["G/detail"], "G"),
    ("attention", dict(w_attention_mean=1.0, w_attention_tv=1.0), "G", ["G/att_mean", "G/att_tv"], "G"),
    ("displacement regulariser", dict(w_disp_reg=1.0), "G", ["G/disp_reg"], "G"),
    ("locality", dict(w_locality=1.0), "G", ["G/locality"], "G"),
    ("patch adversarial (G)", dict(w_patch_adv=1.0), "G", [f"G/patch_{r}" for r in REGIONS], "G"),
    ("patch AU (G)", dict(w_patch_au=1.0, au_source="disc"), "G", [f"G/patch_{r}_au" for r in REGIONS], "G"),
    ("aux-head AU regression", dict(w_d_au=1.0), "D", ["D/au_mse", "D/au_mae"], "D.glob.au_head"),
    ("mismatch", dict(w_d_mismatch=1.0), "D", ["D/mismatch"], "D.glob"),
    ("gradient penalty", dict(gp_weight=1.0), "D", ["D/gp", "D/grad_norm"], "D.glob"),
    ("R1", dict(r1_gamma=1.0), "D", ["D/r1"], "D.glob"),
    ("patch adversarial (D)", dict(w_patch_adv=1.0), "D", [f"D/patch_{r}" for r in REGIONS], "D.patches"),
    ("patch AU (D)", dict(w_patch_au=1.0), "D", [f"D/patch_{r}_au" for r in REGIONS], "D.patches"),
]


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    G = MapGenerator(4, 4, num_aus=K, conditioning="adain", base_channels=8, max_channels=16, num_down=2,
                     latent_dim=16, head="attention", image_size=SIZE)
    glob = build_discriminator("projection_aux", 4, K, base_channels=8, max_channels=16, num_down=3, image_size=SIZE)
    patches = LocalDiscriminators("projection_aux", 4, AU_NAMES, REGIONS, patch_size=16, base_channels=8,
                                  max_channels=16, num_down=2)
    D = GlobalLocalDiscriminator(glob, patches)
    aunet = AUNet(4, K, base_channels=8, depth=2).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    au = torch.rand(B, K, generator=gen)
    fp = au_footprints(torch.as_tensor(canonical_layout().landmarks)[None], (SIZE, SIZE), AU_NAMES).float()
    batch = Batch(x=torch.rand(B, 4, SIZE, SIZE, generator=gen) * 2 - 1, au=au, fp=fp.expand(B, -1, -1, -1),
                  target=torch.rand(B, K, generator=gen), x_pair=torch.rand(B, 4, SIZE, SIZE, generator=gen) * 2 - 1,
                  au_pair=torch.rand(B, K, generator=gen), mismatch=au.flip(0), index=torch.arange(B))
    return G, D, aunet, batch


def _grads(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in module.parameters()])


def _part(G, D, name: str) -> torch.nn.Module:
    return {"G": G, "D.glob": D.glob, "D.glob.au_head": D.glob.au_head, "D.patches": D.patches}[name]


def _run(nets, cfg: LossConfig, phase: str, aunet=None):
    """One phase from fixed seeds, as the training loop runs it (the other network frozen): stats and
    gradients of G, D's global discriminator, its aux head and the local discriminators."""
    G, D, default_aunet, b = nets
    objective = GANObjective(G, D, default_aunet if aunet is None else aunet, cfg, disp_channels=slice(0, 1),
                             renderer=Renderer(), codec=CODEC)
    G.requires_grad_(phase == "G")
    D.requires_grad_(phase == "D")
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    if phase == "G":
        loss, stats = objective.generator_phase(b)
    else:
        loss, stats = objective.discriminator_phase(b, step=0, gen=torch.Generator().manual_seed(2))
    loss.backward()
    grads = {name: _grads(_part(G, D, name)) for name in ("G", "D.glob", "D.glob.au_head", "D.patches")}
    return stats, grads


def test_the_adversarial_game_alone(nets):
    stats, grads = _run(nets, BASE, "G")
    assert set(stats) == {"G/adv", "G/total"}
    assert grads["G"].abs().sum() > 0 and grads["D.glob"].abs().sum() == 0 and grads["D.patches"].abs().sum() == 0
    stats, grads = _run(nets, BASE, "D")
    assert set(stats) == {"D/adv", "D/real_score", "D/fake_score", "D/total"}
    assert grads["G"].abs().sum() == 0   # fakes are made without gradient in the D phase
    assert grads["D.glob"].abs().sum() > 0
    assert grads["D.glob.au_head"].abs().sum() == 0 and grads["D.patches"].abs().sum() == 0


@pytest.mark.parametrize("term, settings, phase, keys, part", TERMS, ids=[t[0] for t in TERMS])
def test_each_term_shows_only_when_weighted_and_moves_its_gradient(nets, term, settings, phase, keys, part):
    other = "D" if phase == "G" else "G"
    base_stats, base_grads = _run(nets, BASE, phase)
    stats, grads = _run(nets, replace(BASE, **settings), phase)
    assert not set(keys) & set(base_stats), f"{term} is reported at weight 0"
    assert set(keys) <= set(stats), f"{term} is missing from the {phase} stats"
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in keys)
    assert stats[f"{phase}/total"] != base_stats[f"{phase}/total"]
    moved = (grads[part] - base_grads[part]).abs().sum()
    assert moved > 0, f"{term} does not reach the gradient of {part}"
    other_stats, _ = _run(nets, replace(BASE, **settings), other)
    assert not set(keys) & set(other_stats), f"{term} leaks into the {other} phase"


def test_terms_need_the_capability_they_read(nets):
    G, D, aunet, b = nets
    # a discriminator without local patches: no patch terms, whatever their weight
    plain = build_discriminator("projection_aux", 4, K, base_channels=8, max_channels=16, num_down=3,
                                image_size=SIZE)
    assert not plain.has_local_patches and D.has_local_patches
    objective = GANObjective(G, plain, aunet, replace(BASE, w_patch_adv=1.0, w_patch_au=1.0))
    _, stats = objective.discriminator_phase(b, step=0)
    assert not any(k.startswith("D/patch") for k in stats)
    # an estimator of renders gets the lighting: new random lighting at every read, even in eval mode
    shaded = ShadedAUNet(AUNet(3, K, base_channels=8, depth=2), CODEC, Renderer()).eval().requires_grad_(False)
    assert shaded.reads_renders and not aunet.reads_renders
    stats, grads = _run(nets, replace(BASE, w_au=1.0), "G", aunet=shaded)
    assert "G/aunet_mse" in stats and grads["G"].abs().sum() > 0
    reader = GANObjective(G, D, shaded, replace(BASE, w_au=1.0))
    x = b.x[:1]
    assert not torch.allclose(reader.read_aus(x), reader.read_aus(x))
    assert torch.equal(GANObjective(G, D, aunet, BASE).read_aus(x), aunet(x))


def test_supervised_objective_needs_no_discriminator_and_edits_pass_source_attributes(nets):
    """With no term reading D the objective says so (the loop then skips the D phase). Every G call gives the
    generator the source's attributes: the edit from the sample's own, the detail swap from its pair's."""
    G, D, aunet, batch = nets
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kw):
            seen.append(("forward", kw.get("extra"), kw.get("source_extra")))
            return self.inner(*args, **{k: v for k, v in kw.items() if k not in ("extra", "source_extra")})

        def encode(self, x):
            return self.inner.encode(x)

        def decode(self, *args, **kw):
            seen.append(("decode", kw.get("extra"), kw.get("source_extra")))
            return self.inner.decode(*args, **{k: v for k, v in kw.items() if k not in ("extra", "source_extra")})

    gen = torch.Generator().manual_seed(3)
    b = replace(batch, extra=torch.rand(B, 2, generator=gen), target_extra=torch.rand(B, 2, generator=gen),
                extra_pair=torch.rand(B, 2, generator=gen))
    supervised = GANObjective(Recorder(G), D, None, replace(BASE, w_adv=0.0, w_detail=1.0, w_cycle=1.0))
    assert not supervised.uses_discriminator
    assert GANObjective(G, D, None, BASE).uses_discriminator
    loss, stats = supervised.generator_phase(b)
    assert "G/adv" not in stats and {"G/detail", "G/cycle"} <= set(stats) and torch.isfinite(loss)
    (_, e1, s1), (_, e2, s2), (_, e3, s3) = seen
    assert e1 is b.target_extra and s1 is b.extra                # the edit: target attributes from the source's
    assert e2 is b.extra and s2 is b.target_extra                # the cycle back
    assert e3 is b.extra and s3 is b.extra_pair                  # the detail swap: from the pair's attributes


@pytest.mark.parametrize("r1_on", ["score", "unconditional"])
def test_r1_on_the_unconditional_part_leaves_the_au_terms_free(nets, r1_on):
    """R1 on aux_match's whole score flattens its AU head's reading of the maps (the score depends on it); on
    the unconditional part it reaches the trunk and psi but neither the AU head nor the match gain."""
    G, _, aunet, b = nets
    torch.manual_seed(0)
    D = build_discriminator("aux_match", 4, K, base_channels=8, max_channels=16, num_down=3, image_size=SIZE,
                            trunk="deep")
    cfg = replace(BASE, w_adv=0.0, r1_gamma=1.0, r1_every=1, r1_on=r1_on)
    objective = GANObjective(G, D, aunet, cfg)
    D.zero_grad(set_to_none=True)
    loss, stats = objective.discriminator_phase(b, step=0)
    loss.backward()
    assert stats["D/r1"] > 0
    head = _grads(D.au_head).abs().sum() + (D.match_gain.grad.abs() if D.match_gain.grad is not None else 0)
    assert _grads(D.psi).abs().sum() > 0 and _grads(D.trunk).abs().sum() > 0
    assert (head > 0) if r1_on == "score" else (head == 0)


def test_r1_on_the_unconditional_part_needs_one():
    from aucgan.config.loading import load_config
    from aucgan.config.schema import ConfigError

    with pytest.raises(ConfigError, match="discriminator.kind=concat has no score part"):
        load_config("improved", ["loss.r1_on=unconditional", "discriminator.kind=concat"])
    assert load_config("improved", ["loss.r1_on=unconditional"]).loss.r1_on == "unconditional"
