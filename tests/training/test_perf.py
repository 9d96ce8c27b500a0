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


def test_run_with_channels_last_and_foreach_adam_checkpoints(tiny_bench, tiny_aunet, tmp_path):
    cfg = load_config("improved", [*TINY, f"aunet.checkpoint={tiny_aunet}", "steps=2", "optim.channels_last=true",
                                   "optim.adam_impl=foreach"])
    result = training_loop(cfg, tiny_bench, tmp_path / "run", progress=False)
    assert result.step == 2 and (tmp_path / "run" / "checkpoints" / "step-000002" / "G.safetensors").is_file()
