"""Every metric on a constructed world with known answers.

The toy world: 17 disjoint block footprints on 32 px maps (displacement + albedo); a real sample is an
identity texture outside the footprints plus, inside footprint k, AU k's intensity times a fixed pattern.
An oracle generator rewrites each footprint with the target intensity (exact ground truth); a blind one
returns its input; the judge reads intensities back by projection on the patterns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from aucgan.au import AU_NAMES
from aucgan.data.codec import MapCodec
from aucgan.metrics.context import EvalContext
from aucgan.metrics.registry import (
    MetricError,
    compute_metric,
    get_metric,
    latest_results,
    metric_names,
    parse_metric_list,
    run_metrics,
)

SIZE, K = 32, len(AU_NAMES)
CODEC = MapCodec(maps=("displacement", "albedo"), disp_scale=0.02)


def block_footprints() -> torch.Tensor:
    """(K, H, W) disjoint 5x5 blocks on a 6x6 grid (hard 0/1 masks)."""
    fp = torch.zeros(K, SIZE, SIZE)
    for k in range(K):
        r, c = divmod(k, 6)
        fp[k, 1 + 5 * r:1 + 5 * r + 5, 1 + 5 * c:1 + 5 * c + 5] = 1.0
    return fp


FP = block_footprints()
_yy, _xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
TEXTURE = torch.stack([torch.sin(_xx * 1.3 + _yy * 0.7) * 0.5 + 0.6,            # displacement-like stripes
                       torch.cos(_yy * 0.9) * 0.3 + 0.5, torch.sin(_xx * 0.5) * 0.2 + 0.4,
                       torch.cos(_xx * 0.3 + _yy) * 0.25 + 0.45])
PATTERN = FP[:, None] * TEXTURE[None]                                              # (K, C, H, W)
UNION = FP.amax(dim=0)


def identity_texture(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(1, 4, 4, 4, generator=g)
    up = torch.nn.functional.interpolate(low, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return up[0] * 0.5


def compose(identity: torch.Tensor, au_unit: torch.Tensor) -> torch.Tensor:
    """Network-scaled maps (B, C, H, W) of identity textures (B, C, H, W) with AUs (B, K) in unit scale."""
    return identity * (1 - UNION) + torch.einsum("bk,kchw->bchw", au_unit, PATTERN)


def random_aus(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, K, generator=g) < 0.4).float() * (0.1 + 0.9 * torch.rand(n, K, generator=g))


@dataclass
class ToyData:
    """The attributes of :class:`aucgan.training.data.TrainData` the metrics read."""

    x: torch.Tensor
    au: torch.Tensor
    footprints: torch.Tensor
    layout_index: torch.Tensor
    identity: torch.Tensor
    ids: list[str]
    textures: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


def toy_data(n: int, seed: int, identities: int = 10) -> ToyData:
    ident = torch.arange(n) % identities
    textures = torch.stack([identity_texture(seed * 100 + int(i)) for i in range(identities)])
    au = random_aus(n, seed)
    return ToyData(x=compose(textures[ident], au), au=au, footprints=FP[None],
                   layout_index=torch.zeros(n, dtype=torch.long), identity=ident,
                   ids=[f"id{int(i):04d}_e{j:04d}" for j, i in enumerate(ident)], textures=textures)


class ToyG(nn.Module):
    """The generator interface (:class:`aucgan.models.interface.Generator`) around a toy ``forward``: the
    encoding is the maps themselves, one decoder pass is the whole edit."""

    in_channels = out_channels = 4
    num_aus, extra_dim, image_size = K, 0, SIZE
    needs_source_au, uses_footprints = False, True
    residual_extra = ()

    def encode(self, x):
        return x

    def decode(self, enc, au, footprints=None, extra=None, source=None, source_au=None):
        return self(enc, au, footprints, source_au=source_au)

    def edit(self, enc, au, footprints=None, extra=None, source_au=None):
        return self.decode(enc, au, footprints, extra, source_au=source_au)


class OracleG(ToyG):
    """Rewrites every footprint with the target intensity's pattern: the exact ground truth."""

    def forward(self, x, au, fp, source_au=None):
        union = fp.amax(dim=1, keepdim=True)
        return {"out": x * (1 - union) + torch.einsum("bk,bkhw,chw->bchw", au, fp, TEXTURE)}


class BlindG(ToyG):
    """Ignores the AU condition entirely (returns its input)."""

    def forward(self, x, au, fp, source_au=None):
        return {"out": x + 0.0 * au.sum()}


class PartialG(ToyG):
    """Goes ``share`` of the way from the source to the exact edit (a generator that under-edits)."""

    def __init__(self, share: float) -> None:
        super().__init__()
        self.share = share

    def forward(self, x, au, fp, source_au=None):
        return {"out": x + self.share * (OracleG()(x, au, fp)["out"] - x)}


class LeakyG(ToyG):
    """Writes AU changes everywhere (uniform over the map), not in the footprint."""

    def forward(self, x, au, fp, source_au=None):
        return {"out": x + au.sum(dim=1)[:, None, None, None] * 0.1 * torch.ones_like(x)}


class NoisyG(ToyG):
    """Adds high-frequency noise: unrealistic maps."""

    def forward(self, x, au, fp, source_au=None):
        g = torch.Generator().manual_seed(0)
        return {"out": x + 0.8 * torch.randn(x.shape, generator=g)}


class Judge(nn.Module):
    """Reads AU k as the projection of the maps on pattern k (0..5 scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def predict(self, x):
        num = torch.einsum("bchw,kchw->bk", x, PATTERN)
        return 5.0 * num / PATTERN.pow(2).sum(dim=(1, 2, 3))


class AUAwareD(nn.Module):
    """Scores the agreement of the told AUs with the AUs the maps show; aux head = the judge."""

    def forward(self, x, au):
        read = Judge().predict(x) / 5.0
        return SimpleNamespace(score=-(read - au).abs().sum(dim=1), au_pred=read)


class BlindD(nn.Module):
    """Scores realism only (the mean of the maps); no aux head."""

    def forward(self, x, au):
        return SimpleNamespace(score=x.mean(dim=(1, 2, 3)), au_pred=None)


class ToyTruth:
    """Ground truth of the toy world: the identity texture with the target AUs."""

    def __init__(self, data: ToyData) -> None:
        self.data = data

    def _tex(self, ids):
        return self.data.textures[[int(self.data.identity[self.data.ids.index(i)]) for i in ids]]

    def render(self, source_ids, target_au, target_ids=None):
        return compose(self._tex(source_ids), torch.as_tensor(target_au) / 5.0)

    def neutral(self, source_ids):
        return compose(self._tex(source_ids), torch.zeros(len(source_ids), K))

    def people(self, split="train"):
        """One sample id per identity (the toy world has no splits)."""
        first = {}
        for i, sid in enumerate(self.data.ids):
            first.setdefault(int(self.data.identity[i]), sid)
        return [first[k] for k in sorted(first)]


def make_ctx(G: nn.Module, n: int = 120, **kw) -> EvalContext:
    data = toy_data(n, seed=1)
    ref = toy_data(n, seed=2).x
    base = dict(G=G, codec=CODEC, au_names=tuple(AU_NAMES), data=data, judge=Judge(), D=AUAwareD(),
                reference=ref, truth=ToyTruth(data), num_samples=n, num_sweep=3, batch_size=64, seed=0)
    base.update(kw)
    return EvalContext(**base)


# ------------------------------------------------------------------------------------------ registry

def test_registry_lists_every_metric_and_rejects_unknown_names():
    assert set(metric_names()) >= {"paired_fidelity", "au_control", "locality", "identity", "realism",
                                   "disc_awareness", "sensitivity"}
    with pytest.raises(MetricError, match="valid metrics: .*au_control"):
        get_metric("fidelity")
    assert parse_metric_list("locality, au_control,locality") == ["locality", "au_control"]
    with pytest.raises(MetricError, match="valid metrics"):
        parse_metric_list("locality,nope")


def test_missing_requirement_is_a_clear_error():
    ctx = make_ctx(OracleG(), n=20, judge=None, truth=None, D=None)
    with pytest.raises(MetricError, match="judge"):
        compute_metric("au_control", ctx)
    with pytest.raises(MetricError, match="synthetic benchmark"):
        compute_metric("paired_fidelity", ctx)
    with pytest.raises(MetricError, match="discriminator"):
        compute_metric("disc_awareness", ctx)


def test_run_metrics_appends_jsonl_lines_tied_to_the_step(tmp_path):
    ctx = make_ctx(OracleG(), n=20, step=40, info={"data": "toy"})
    run_metrics(tmp_path, ["locality", "sensitivity"], ctx)
    ctx2 = make_ctx(BlindG(), n=20, step=80)
    run_metrics(tmp_path, ["locality"], ctx2)
    lines = [json.loads(x) for x in (tmp_path / "metric-locality.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [40, 80]
    assert lines[0]["data"] == "toy" and lines[0]["metric"] == "locality"
    assert lines[0]["results"]["summary"]["leakage"] == pytest.approx(0.0, abs=1e-6)
    sens = json.loads((tmp_path / "metric-sensitivity.jsonl").read_text())
    assert sens["arrays"] == "metric-sensitivity-step000040.safetensors"
    from safetensors.torch import load_file
    arrays = load_file(str(tmp_path / sens["arrays"]))
    assert arrays["sensitivity"].shape == (K, SIZE, SIZE) and arrays["footprints"].shape == (K, SIZE, SIZE)
    latest = latest_results(tmp_path)
    assert latest["locality"]["step"] == 80 and latest["sensitivity"]["step"] == 40


# ------------------------------------------------------------------------------------------ metrics

def test_au_control_oracle_is_perfect_and_blind_generator_scores_icc_zero():
    good = compute_metric("au_control", make_ctx(OracleG()))["summary"]
    assert good["mae"] == pytest.approx(0.0, abs=1e-4)
    assert good["icc"] == pytest.approx(1.0, abs=1e-4) and good["pearson"] == pytest.approx(1.0, abs=1e-4)
    assert good["sweep_spearman"] == pytest.approx(1.0) and good["sweep_span"] == pytest.approx(5.0, abs=1e-3)
    blind = compute_metric("au_control", make_ctx(BlindG(), n=240))
    s = blind["summary"]
    assert abs(s["icc"]) < 0.1 and abs(s["pearson"]) < 0.1
    assert s["mae"] > 1.0
    assert s["sweep_spearman"] == 0.0 and s["sweep_span"] == pytest.approx(0.0, abs=1e-6)
    # the judge reads the real maps perfectly: the ceiling is reported beside the scores
    assert s["judge_real_mae"] == pytest.approx(0.0, abs=1e-4)
    assert set(blind["per_au"]["icc"]) == set(AU_NAMES)


def test_sensitivity_is_zero_for_a_blind_generator_and_focused_for_the_oracle():
    blind = compute_metric("sensitivity", make_ctx(BlindG(), n=20))
    assert blind["summary"]["inside"] == 0.0 and blind["summary"]["outside"] == 0.0
    assert blind["summary"]["focus"] is None
    assert float(blind["arrays"]["sensitivity"].abs().max()) == 0.0
    good = compute_metric("sensitivity", make_ctx(OracleG(), n=20))
    assert good["summary"]["inside"] > 0.1 and good["summary"]["outside"] == 0.0
    assert good["summary"]["focus"] == pytest.approx(1.0)
    # the mean map of AU k is the mean |pattern k| over channels
    expected = PATTERN.abs().mean(dim=1)
    assert torch.allclose(good["arrays"]["sensitivity"], expected, atol=1e-5)
    leaky = compute_metric("sensitivity", make_ctx(LeakyG(), n=20))["summary"]
    assert leaky["focus"] == pytest.approx(0.5, abs=1e-6)


def test_locality_oracle_has_no_leakage_and_leaky_generator_leaks():
    good = compute_metric("locality", make_ctx(OracleG(), n=20))
    assert good["summary"]["leakage"] == pytest.approx(0.0, abs=1e-6)
    assert good["summary"]["change"] > 0
    leaky = compute_metric("locality", make_ctx(LeakyG(), n=20))["summary"]
    coverage = float(FP[0].mean())                      # one block's share of the map
    assert leaky["leakage"] == pytest.approx(1.0 - coverage, abs=1e-5)
    blind = compute_metric("locality", make_ctx(BlindG(), n=20))
    assert blind["summary"]["leakage"] is None and blind["summary"]["change"] == 0.0
    assert blind["unchanged_edits"] == 3 * K


def test_paired_fidelity_oracle_scores_zero_and_source_copy_does_not():
    res = compute_metric("paired_fidelity", make_ctx(OracleG()))
    s = res["summary"]
    for m in ("displacement", "albedo"):
        assert s[f"l1_footprint/{m}"] == pytest.approx(0.0, abs=1e-6)
        assert s[f"l1/{m}"] == pytest.approx(0.0, abs=1e-6)
        assert s[f"psnr_footprint/{m}"] is None or s[f"psnr_footprint/{m}"] > 80
        assert s[f"source_l1_footprint/{m}"] > 1e-3
    blind = compute_metric("paired_fidelity", make_ctx(BlindG()))["summary"]
    assert blind["l1_footprint/displacement"] == pytest.approx(blind["source_l1_footprint/displacement"])
    assert blind["l1_footprint/displacement"] > blind["l1/displacement"]   # the error is in the footprints


def test_explained_cosine_amplitude_have_known_answers():
    sets = ("add", "remove", "transfer")
    oracle = compute_metric("paired_fidelity", make_ctx(OracleG()))
    s = oracle["summary"]
    assert all(oracle["num_pairs"][k] > 0 for k in sets)
    for m in ("displacement", "albedo"):
        for k in sets:
            assert s[f"explained/{m}/{k}"] == pytest.approx(1.0, abs=1e-6)
            assert s[f"cosine/{m}/{k}"] == pytest.approx(1.0, abs=1e-6)
            assert s[f"amplitude/{m}/{k}"] == pytest.approx(1.0, abs=1e-6)
    blind = compute_metric("paired_fidelity", make_ctx(BlindG()))["summary"]
    half = compute_metric("paired_fidelity", make_ctx(PartialG(0.5)))["summary"]
    over = compute_metric("paired_fidelity", make_ctx(PartialG(2.5)))["summary"]
    for k in sets:
        assert blind[f"explained/displacement/{k}"] == pytest.approx(0.0, abs=1e-9)
        assert blind[f"cosine/displacement/{k}"] == 0.0 and blind[f"amplitude/displacement/{k}"] == 0.0
        assert half[f"explained/displacement/{k}"] == pytest.approx(0.5, abs=1e-6)
        assert half[f"cosine/displacement/{k}"] == pytest.approx(1.0, abs=1e-6)
        assert half[f"amplitude/displacement/{k}"] == pytest.approx(0.5, abs=1e-6)
        # overshooting the true change by 2.5x is worse than not editing: explained < 0
        assert over[f"explained/displacement/{k}"] == pytest.approx(-0.5, abs=1e-6)
    # single-AU edits: per-AU figures for the AUs that were edited
    per_au = oracle["sets"]["add"]["maps"]["displacement"]["per_au"]
    assert per_au and all(v["explained"] == pytest.approx(1.0, abs=1e-6) for v in per_au.values())


def test_single_au_edits_add_inactive_and_remove_active_aus():
    from aucgan.metrics.paired import ADD_BELOW, REMOVE_FROM, single_au_edits

    ctx = make_ctx(BlindG(), n=30)
    idx = torch.arange(10)
    edits = single_au_edits(ctx, idx, salt=3)
    for name, (rows, ks, target) in edits.items():
        src = ctx.data.au[idx][rows]
        changed = (target != src)
        assert torch.equal(changed.nonzero()[:, 1], ks) and int(changed.sum()) == rows.numel()
        before = src[torch.arange(rows.numel()), ks] * 5
        after = target[torch.arange(rows.numel()), ks] * 5
        if name == "add":
            assert bool((before < ADD_BELOW).all()) and bool((after >= 2.0).all() & (after <= 5.0).all())
        else:
            assert bool((before >= REMOVE_FROM).all()) and bool((after == 0).all())
    again = single_au_edits(ctx, idx, salt=3)
    assert all(torch.equal(edits[k][2], again[k][2]) for k in edits)


def test_au_control_on_changed_and_active_aus_beside_no_edit_and_truth():
    good = compute_metric("au_control", make_ctx(OracleG()))["summary"]
    assert good["mae_changed"] == pytest.approx(0.0, abs=1e-4) and good["n_changed"] > 0
    assert good["truth_mae_changed"] == pytest.approx(0.0, abs=1e-4)   # the toy judge reads the truth exactly
    blind = compute_metric("au_control", make_ctx(BlindG()))["summary"]
    assert blind["mae_changed"] == pytest.approx(blind["noedit_mae_changed"], abs=1e-6)
    # over the changed AUs alone the blind generator's error is far larger than the all-AU mean shows
    assert blind["mae_changed"] > 1.5 * blind["mae"]


def test_identity_change_outside_footprints():
    good = compute_metric("identity", make_ctx(OracleG()))["summary"]
    assert good["l1_outside/displacement"] == pytest.approx(0.0, abs=1e-7)
    assert good["l1_neutral/albedo"] == pytest.approx(0.0, abs=1e-6)
    assert good["l1_reconstruction/albedo"] == pytest.approx(0.0, abs=1e-6)
    drift = compute_metric("identity", make_ctx(LeakyG()))["summary"]
    assert drift["l1_outside/displacement"] > 1e-3


def test_realism_swd_of_real_maps_matches_the_floor_and_noise_does_not():
    same = compute_metric("realism", make_ctx(BlindG(), n=40))    # outputs are the real sources
    s = same["summary"]
    assert s["swd"] == pytest.approx(s["swd_floor"], rel=1e-9)
    assert s["swd_excess"] == pytest.approx(0.0, abs=1e-9)
    assert "skipped" in same["fid_kid"] and "--features" in same["fid_kid"]
    noisy = compute_metric("realism", make_ctx(NoisyG(), n=40))["summary"]
    assert noisy["swd"] > 3 * noisy["swd_floor"]


def test_realism_fid_kid_with_a_feature_extractor():
    def feats(x):
        return torch.stack([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1).flatten(1)

    same = compute_metric("realism", make_ctx(BlindG(), n=40, features=feats))["summary"]
    assert same["fid"] == pytest.approx(same["fid_floor"], rel=1e-6)
    noisy = compute_metric("realism", make_ctx(NoisyG(), n=40, features=feats))["summary"]
    assert noisy["fid"] > 10 * max(noisy["fid_floor"], 1e-3) and noisy["kid"] > noisy["kid_floor"]


def test_disc_awareness_auc_half_for_blind_and_one_for_au_aware_discriminator():
    blind = compute_metric("disc_awareness", make_ctx(OracleG(), D=BlindD()))
    assert blind["summary"]["auc"] == pytest.approx(0.5)
    assert blind["summary"]["paired_win"] == pytest.approx(0.5)
    assert "no AU regression head" in blind["aux"]
    assert blind["summary"]["auc_far"] == pytest.approx(0.5)
    assert set(blind["strata"]) == {"near", "mid", "far"}
    edges = [blind["strata"][k]["distance"] for k in ("near", "mid", "far")]
    assert edges[0][1] == edges[1][0] and edges[1][1] == edges[2][0] and edges[0][1] <= edges[1][1]
    aware = compute_metric("disc_awareness", make_ctx(OracleG(), D=AUAwareD()))["summary"]
    assert aware["auc"] > 0.99 and aware["paired_win"] == 1.0
    assert aware["auc_far"] > 0.99 and aware["auc_near"] <= aware["auc_far"]
    assert aware["aux_mae"] == pytest.approx(0.0, abs=1e-4)


def test_metrics_are_reproducible_for_a_seed_and_change_with_it():
    a = compute_metric("au_control", make_ctx(BlindG(), n=60))["summary"]
    b = compute_metric("au_control", make_ctx(BlindG(), n=60))["summary"]
    c = compute_metric("au_control", make_ctx(BlindG(), n=60, num_samples=30, seed=5))["summary"]
    assert a == b and a != c
    assert np.isfinite(a["mae"])


# ------------------------------------------------------------------------------------------ helpers

def test_roc_auc_known_values():
    from aucgan.metrics.discriminator import roc_auc

    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert roc_auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert roc_auc(np.array([2.0]), np.array([2.0])) == 0.5


def test_psnr_and_monotonicity_and_single_au_edits():
    from aucgan.metrics.control import monotonicity
    from aucgan.metrics.paired import psnr
    from aucgan.metrics.spatial import single_au_edits

    assert psnr(0.01, 1.0) == pytest.approx(20.0) and psnr(0.0, 1.0) == float("inf")
    levels = np.arange(6.0)
    assert monotonicity(levels, levels**2) == pytest.approx(1.0)
    assert monotonicity(levels, -levels) == pytest.approx(-1.0)
    assert monotonicity(levels, np.ones(6)) == 0.0
    edits = single_au_edits(torch.tensor([0.0, 0.6, 0.3]))
    assert torch.allclose(edits, torch.tensor([[0.8, 0.6, 0.3], [0.0, 0.0, 0.3], [0.0, 0.6, 0.8]]))


def test_locality_and_sensitivity_with_the_region_atlas_footprints():
    """The oracle acting exactly on the atlas's soft, overlapping footprints: leakage ~ 0, focus ~ 1."""
    import dataclasses

    from aucgan.layout.atlas import au_footprints
    from aucgan.layout.landmarks import canonical_layout

    atlas = au_footprints(torch.as_tensor(canonical_layout().landmarks)[None], (SIZE, SIZE), AU_NAMES).float()
    base = make_ctx(OracleG(), n=20)
    ctx = dataclasses.replace(base, data=dataclasses.replace(base.data, footprints=atlas))
    loc = compute_metric("locality", ctx)["summary"]
    assert loc["leakage"] < 0.01 and loc["change"] > 0
    sens = compute_metric("sensitivity", ctx)["summary"]
    assert sens["focus"] > 0.95
    leaky = dataclasses.replace(ctx, G=LeakyG())
    assert compute_metric("locality", leaky)["summary"]["leakage"] > 0.8
