"""Speed settings: Adam kernels agree, channels-last batches keep their values, and a run with them trains."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aucgan.config.loading import load_config
from aucgan.data.batch import Batch
from aucgan.errors import AucganError
from aucgan.training.loop import training_loop
from aucgan.training.perf import ADAM_IMPLS, make_adam, maybe_compile, to_channels_last

from tests.tiny import TINY


def _train(impl: str) -> torch.Tensor:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 1, 3))
    opt = make_adam(net.parameters(), 1e-2, (0.5, 0.999), impl)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_adam_kernels_agree_and_bad_names_fail():
    ref = _train("single")
    for impl in ADAM_IMPLS:
        assert torch.allclose(_train(impl), ref, atol=1e-6)
    assert make_adam([nn.Parameter(torch.zeros(1))], 1e-3, (0.5, 0.9), "fused").defaults["fused"] is True
    with pytest.raises(AucganError, match="optim.adam_impl.*valid: auto, foreach, fused, single"):
        make_adam([nn.Parameter(torch.zeros(1))], 1e-3, (0.5, 0.9), "turbo")


def test_channels_last_batch_and_compile_switch():
    x = torch.randn(2, 4, 8, 8)
    b = Batch(x=x, au=torch.rand(2, 3), fp=torch.rand(2, 3, 8, 8), target=torch.rand(2, 3), x_pair=x,
              au_pair=torch.rand(2, 3), mismatch=torch.rand(2, 3), index=torch.arange(2))
    cl = to_channels_last(b)
    assert cl.x.is_contiguous(memory_format=torch.channels_last) and not cl.x.is_contiguous()
    assert torch.equal(cl.x, x) and torch.equal(cl.fp, b.fp) and cl.au is b.au and cl.extra is None
    net = nn.Linear(2, 2)
    assert maybe_compile(net, False) is net
    assert maybe_compile(net, True) is not net  # a compiled wrapper (compiled lazily on the first call)


def test_speed_settings_train_the_same_run(tiny_bench, tiny_aunet, tmp_path):
    """channels-last batches and foreach Adam change the speed, not the model: the same seed gives the same
    losses and the same weights as the default settings, up to the rounding of other kernels (which Adam's
    normalised step can turn into a full step for a weight whose gradient is about 0, so compared on average)."""
    import json

    from safetensors.torch import load_file

    base = [*TINY, f"aunet.checkpoint={tiny_aunet}", "steps=2"]
    fast = load_config("improved", [*base, "optim.channels_last=true", "optim.adam_impl=foreach"])
    plain = load_config("improved", base)
    assert (fast.optim.channels_last, fast.optim.adam_impl) != (plain.optim.channels_last, plain.optim.adam_impl)
    weights, stats = {}, {}
    for name, cfg in (("fast", fast), ("plain", plain)):
        assert training_loop(cfg, tiny_bench, tmp_path / name, progress=False).step == 2
        weights[name] = load_file(str(tmp_path / name / "checkpoints" / "step-000002" / "G.safetensors"))
        stats[name] = [json.loads(x) for x in (tmp_path / name / "stats.jsonl").read_text().splitlines()]
    for a, b in zip(stats["fast"], stats["plain"], strict=True):
        assert a["G/total"] == pytest.approx(b["G/total"], rel=1e-4)
        assert a["D/total"] == pytest.approx(b["D/total"], rel=1e-4)
    training_loop(plain, tiny_bench, tmp_path / "one", progress=False, stop_at=1)
    first = load_file(str(tmp_path / "one" / "checkpoints" / "step-000001" / "G.safetensors"))

    def flat(w: dict) -> torch.Tensor:
        return torch.cat([w[k].flatten() for k in sorted(w)])

    step_change = float((flat(weights["plain"]) - flat(first)).abs().mean())
    assert step_change > 1e-5                                   # step 2 moved the weights
    assert float((flat(weights["fast"]) - flat(weights["plain"])).abs().mean()) < 1e-2 * step_change
