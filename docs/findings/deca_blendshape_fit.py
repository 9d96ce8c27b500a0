"""How much of a DECA world's true AU change a population AU blendshape can reach, fitted to the data directly.

Usage: python docs/findings/deca_blendshape_fit.py DATA WORLD [STEPS]
DATA: a set from `aucgan prepare-deca` (the world's training people); WORLD: its `aucgan synth-deca` folder.

Per AU two maps (s and s**2, s = AU / 5) plus one map per person, fitted to every training image at once (no
decoder, no codes): by least squares (closed form) and by least absolute deviations (full-batch Adam, STEPS steps,
the learning rate decaying to zero), with the OpenFace-like estimates the data carry, with those gated as the
``deca`` preset gates them (readings below 1 set to 0, ``data.au_gate``), and with the world's true AUs. Each fit
is scored as a decoder by `aucgan diagnose --truth` (its edits do not depend on the person), beside the identity-
blind reference.
Results: docs/findings.md, "AU blendshapes".
"""

from __future__ import annotations

import csv
import sys

import numpy as np
import torch


class Blendshapes(torch.nn.Module):
    """A 'decoder' whose output is the AU blendshapes alone (the truth metric scores changes, so no base)."""

    needs_source_au = False

    def __init__(self, maps: np.ndarray, au_names: tuple[str, ...], size: int) -> None:
        super().__init__()
        self.maps, self.au_names, self.output_size, self.latent_dim = torch.tensor(maps), au_names, size, 181

    def forward(self, latent: torch.Tensor, au: torch.Tensor, source_au: torch.Tensor | None = None) -> torch.Tensor:
        s = au.double() / 5.0
        out = torch.cat([s, s * s], 1) @ self.maps
        return (0.01 * out).reshape(-1, 1, self.output_size, self.output_size).float()


def features(s: np.ndarray) -> np.ndarray:
    return np.concatenate([s, s * s], 1)


def least_squares(y: np.ndarray, f: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Per-person means removed (fixed effects), then ordinary least squares."""
    yd, fd = y.copy(), f.copy()
    for p in np.unique(person):
        yd[person == p] -= y[person == p].mean(0)
        fd[person == p] -= f[person == p].mean(0)
    return np.linalg.solve(fd.T @ fd, fd.T @ yd)


def least_deviations(y: np.ndarray, f: np.ndarray, person: np.ndarray, steps: int) -> np.ndarray:
    """Mean |y - offset[person] - f B| minimised by full-batch Adam (the median-type fit)."""
    torch.manual_seed(0)
    yt, ft, pt = torch.tensor(y, dtype=torch.float32), torch.tensor(f, dtype=torch.float32), torch.tensor(person)
    maps = torch.zeros(f.shape[1], y.shape[1], requires_grad=True)
    offset = torch.stack([yt[pt == p].median(0).values for p in range(int(pt.max()) + 1)]).requires_grad_(True)
    opt = torch.optim.Adam([maps, offset], lr=3e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, 2.0 * (1.0 - i / steps)))
    for _ in range(steps):
        loss = (yt - offset[pt] - ft @ maps).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return maps.detach().double().numpy()


def main(data_dir: str, world_dir: str, steps: int) -> None:
    from aucgan.deca.data import open_deca_data
    from aucgan.deca.truth import truth_scores
    from aucgan.deca.world import open_world

    data = open_deca_data(data_dir)
    world = open_world(world_dir)
    y = np.asarray(data.uv_z, np.float64).reshape(len(data), -1) / 0.01          # decoder units
    person = data.identity_index()
    rows = {r["name"]: r for r in csv.DictReader(open(f"{world_dir}/samples.csv", newline=""))}
    observed = np.asarray(data.au, np.float64) / 5.0
    gated = np.where(observed >= 0.2, observed, 0.0)          # the deca preset's data.au_gate: readings below 1 are 0
    true = np.array([[float(rows[n][a]) for a in data.au_names] for n in data.names]) / 5.0
    print("fit | AUs | explained add / remove / transfer | cosine add | amplitude add")
    blind = None
    for fit in ("least squares", "least deviations"):
        for label, s in (("observed (OpenFace-like)", observed), ("observed, gated at 1", gated), ("true", true)):
            f = features(s)
            maps = least_squares(y, f, person) if fit == "least squares" else least_deviations(y, f, person, steps)
            r = truth_scores(Blendshapes(maps, data.au_names, data.size), world, num_samples=48)["summary"]
            blind = [r[f"identity_blind/explained/{k}"] for k in ("add", "remove", "transfer")]
            explained = " / ".join(f"{r[f'explained/{k}']:.2f}" for k in ("add", "remove", "transfer"))
            print(f"{fit} | {label} | {explained} | {r['cosine/add']:.2f} | {r['amplitude/add']:.2f}", flush=True)
    print("identity-blind reference | | " + " / ".join(f"{v:.2f}" for v in blind))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 1500)
