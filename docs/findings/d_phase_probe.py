"""Which of improved's discriminator terms keep its AU head from reading the AUs? Its D phase alone, G frozen.

Usage: python docs/findings/d_phase_probe.py BENCH TERMS [STEPS] [R1_GAMMA] [R1_EVERY]
BENCH: a benchmark from `aucgan synth`. TERMS: a comma list of
  au   the AU regression loss on real maps (loss.w_d_au)
  adv  the adversarial real / fake terms (loss.w_adv); the fake is the source map under another sample's AUs
       and attributes - G's output at the start, when its residual head is zero
  mis  real maps under mismatched AUs as fakes (loss.w_d_mismatch)
  r1   lazy R1 on the score (loss.r1_gamma, every R1_EVERY steps, scaled by R1_EVERY); r1u: on its unconditional part
  sep  R1 stepped by its own Adam optimiser (its gradient spikes then do not enter the other terms' Adam state)
  ext  D is shown the emotion and valence attributes (improved's generator.extra_attrs), as in training
Every 100 steps it prints, on 128 held-out maps, the AU head's MAE in intensity points (beside the mean
predictor's), the mean per-AU spread of its logits (0.1-0.2 untrained) and how often a matched pair outscores a
mismatched one. improved's settings otherwise (lr 2e-4, betas 0.5 / 0.999, batch 16, hinge loss). Seeded.
Results: docs/findings.md, "Why the discriminator read no AUs".
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch


def main(bench: str, terms: set[str], steps: int, gamma: float, every: int) -> None:
    from aucgan.au import au_set
    from aucgan.config.loading import load_config
    from aucgan.losses.adversarial import d_adv_loss, fake_term, r1_penalty
    from aucgan.losses.au_consistency import au_loss
    from aucgan.metrics.evaluate import load_split
    from aucgan.models.build import make_codec
    from aucgan.models.discriminator import build_discriminator

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = load_config("improved", [f"loss.r1_gamma={gamma}", f"loss.r1_every={every}"])
    loss_cfg, dc = cfg.loss, cfg.discriminator
    codec, names = make_codec(cfg.data), au_set(cfg.data.au_set)
    attrs = tuple(cfg.generator.extra_attrs) if "ext" in terms else ()
    train = load_split(Path(bench), codec, names, 64, "train", 100000, 0, extra_attrs=attrs)
    test = load_split(Path(bench), codec, names, 64, "test", 128, 0, extra_attrs=attrs)
    D = build_discriminator(dc.kind, in_channels=train.x.shape[1], num_aus=len(names),
                            extra_dim=train.extra.shape[1] if attrs else 0, base_channels=dc.base_channels,
                            max_channels=dc.max_channels, num_down=dc.num_down, spectral_norm=dc.spectral_norm,
                            image_size=64, trunk=dc.trunk)
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    opt = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=betas)
    opt_r1 = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=betas) if "sep" in terms else opt
    extra = (lambda data, i: data.extra[i]) if attrs else (lambda data, i: None)
    r1_target = (lambda out: out.score) if "r1" in terms else (lambda out: out.unconditional)

    def report(step: int) -> None:
        with torch.no_grad():
            out = D(test.x, test.au, extra(test, slice(None)))
            mae = float((out.au_pred - test.au).abs().mean() * 5)
            mean = float((test.au - train.au.mean(0)).abs().mean() * 5)
            other = D(test.x, torch.roll(test.au, 1, 0), extra(test, slice(None))).score
            win = float((out.score > other).float().mean())
        print(f"{','.join(sorted(terms))} step {step}: AU MAE {mae:.3f} (mean predictor {mean:.3f}), logit spread "
              f"{float(out.au_logits.std(0).mean()):.3f}, matched > mismatched {win:.2f}", flush=True)

    for step in range(steps + 1):
        idx, tgt, mis = (torch.randint(len(train.x), (16,)) for _ in range(3))
        x, au = train.x[idx], train.au[idx]
        lazy = bool(terms & {"r1", "r1u"}) and step % every == 0
        real_in = x.clone().requires_grad_(lazy)
        real = D(real_in, au, extra(train, idx))
        loss = torch.zeros(())
        if "adv" in terms:
            fake = D(x, train.au[tgt], extra(train, tgt))
            loss = loss + loss_cfg.w_adv * d_adv_loss(loss_cfg.adversarial, real.score, fake.score)[0]
        if "mis" in terms:
            loss = loss + loss_cfg.w_d_mismatch * fake_term(loss_cfg.adversarial,
                                                            D(x, train.au[mis], extra(train, idx)).score)
        if "au" in terms:
            loss = loss + loss_cfg.w_d_au * au_loss(loss_cfg.au_loss, real.au_logits, au, pred_is_logits=True)[0]
        if lazy and "sep" in terms:
            opt.zero_grad()
            loss.backward()
            opt.step()
            real_in = x.clone().requires_grad_(True)
            penalty = r1_penalty(r1_target(D(real_in, au, extra(train, idx))), real_in, gamma)[0]
            opt_r1.zero_grad()
            (penalty * every).backward()
            opt_r1.step()
        else:
            if lazy:
                loss = loss + r1_penalty(r1_target(real), real_in, gamma)[0] * every
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step % 100 == 0:
            report(step)


if __name__ == "__main__":
    if len(sys.argv) not in range(3, 7):
        sys.exit(__doc__)
    a = sys.argv
    main(a[1], set(a[2].split(",")), int(a[3]) if len(a) > 3 else 300, float(a[4]) if len(a) > 4 else 1.0,
         int(a[5]) if len(a) > 5 else 16)
