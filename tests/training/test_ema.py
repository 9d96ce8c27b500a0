"""EMA of generator weights: the averaging rule, warm-up, buffers, wrappers and state round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aucgan.training.ema import EMA, unwrap


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_is_a_lerp_towards_the_model():
    model = net()
    ema = EMA(model, decay=0.9)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, 0.9 * start + 0.1 * (start + 1.0), atol=1e-6)
    assert ema.num_updates == 1
    assert not torch.equal(ema.module[0].weight, model[0].weight)


def test_copy_is_frozen_and_independent():
    model = net()
    ema = EMA(model, decay=0.5)
    assert not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert ema.module[0].weight.data_ptr() != model[0].weight.data_ptr()


def test_warmup_ramps_the_decay_linearly():
    ema = EMA(net(), decay=0.99, warmup=10)
    assert ema.current_decay() == pytest.approx(0.099)
    for _ in range(4):
        ema.update(net())
    assert ema.current_decay() == pytest.approx(0.99 * 5 / 10)
    for _ in range(20):
        ema.update(net())
    assert ema.current_decay() == pytest.approx(0.99)
    assert EMA(net(), decay=0.99, warmup=0).current_decay() == 0.99


def test_first_warmup_update_nearly_copies_the_model():
    model = net()
    ema = EMA(model, decay=0.999, warmup=1000)
    with torch.no_grad():
        model[0].weight.mul_(-3.0)
    ema.update(model)
    assert torch.allclose(ema.module[0].weight, model[0].weight, atol=1e-2)


def test_buffers_are_copied_not_averaged():
    model = net()
    ema = EMA(model, decay=0.99)
    model.train()
    model(torch.randn(16, 3) * 5 + 2)
    ema.update(model)
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)
    assert torch.equal(ema.module[1].num_batches_tracked, model[1].num_batches_tracked)


def test_wrapped_models_are_unwrapped():
    model = net()
    wrapped = nn.DataParallel(model)
    assert unwrap(wrapped) is model
    ema = EMA(wrapped, decay=0.5)
    assert set(ema.module.state_dict()) == set(model.state_dict())
    ema.update(wrapped)
    assert ema.num_updates == 1


def test_mismatched_model_is_an_error():
    ema = EMA(net())
    with pytest.raises(ValueError, match="differ"):
        ema.update(nn.Sequential(nn.Linear(3, 4)))


def test_state_dict_round_trip():
    model = net()
    ema = EMA(model, decay=0.9, warmup=3)
    with torch.no_grad():
        model[0].bias.add_(2.0)
    ema.update(model)
    ema.update(model)
    other = EMA(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 2 and other.decay == 0.9 and other.warmup == 3
    for a, b in zip(ema.module.state_dict().values(), other.module.state_dict().values()):
        assert torch.equal(a, b)


def test_converges_to_a_fixed_model():
    model = net()
    ema = EMA(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), decay=0.5)
    for _ in range(60):
        ema.update(model)
    assert torch.allclose(ema.module[0].weight, model[0].weight, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay"):
        EMA(net(), decay=1.5)
    with pytest.raises(ValueError, match="warmup"):
        EMA(net(), warmup=-1)


def test_rampup_half_life_grows_with_the_run():
    import math

    from aucgan.training.ema import EMA

    ema = EMA(torch.nn.Linear(2, 2), decay=0.999, rampup=0.05)
    ema.num_updates = 399  # next update is the 400th: half-life 20 updates
    assert ema.current_decay() == pytest.approx(0.5 ** (1 / 20))
    ema.num_updates = 10**6  # long runs reach the configured decay
    assert ema.current_decay() == 0.999
    assert math.isclose(EMA(torch.nn.Linear(2, 2), rampup=0.05).current_decay(), 0.5 ** 20)
