"""Draw docs/findings/deca-truth.png: AU edits of DECA-style decoders beside a DECA world's exact truth.

Usage: python docs/findings/deca_truth_figure.py WORLD OUT.png SOURCE AU=V,AU=V,... NAME=RUN [NAME=RUN ...]
One held-out source image of the world (SOURCE, e.g. id0003_e0012); per edit (one row each: the AU set to V, the
other AUs as OpenFace read them) the change of uv_z: the truth's (the person's uv_z at the target AUs minus at
the source's true AUs), then each run's edit minus its own output for the source, then "codes only" of the first
run (the world's encoder's expression code and jaw for the target AUs, the source's AUs). The first column is
the true source uv_z in grey. One colour scale per row (red: outward, blue: inward; +- the truth's largest change
inside the face mask), everything outside DECA's face mask greyed out.
"""

from __future__ import annotations

import sys

import numpy as np
import torch


def main(world_dir: str, out: str, source: str, edits: str, specs: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from aucgan.au import au_indices, parse_au_spec
    from aucgan.deca.build import load_decoder
    from aucgan.deca.truth import JAW_EXP
    from aucgan.deca.world import latent_of, open_world

    torch.set_num_threads(1)
    world = open_world(world_dir)
    row = world.row(source)
    person = world.identities[row]
    runs = [(name, load_decoder(path)[0]) for name, _, path in (s.partition("=") for s in specs)]
    cols = au_indices(runs[0][1].au_names, world.au_names)
    latent = torch.from_numpy(world.latent(source))[None]
    seen, true = world.observed_au(source), world.true_au[row]
    mask = world.face_mask().numpy() > 0.5
    truth_source = world.uv_z(person, true[None])[0, 0].numpy()

    def decode(dec, lat: torch.Tensor, au: np.ndarray) -> np.ndarray:
        a = torch.from_numpy(np.asarray(au, np.float32)[cols])[None]
        s = torch.from_numpy(np.asarray(seen, np.float32)[cols])[None]
        with torch.no_grad():
            return dec(lat, a, source_au=s if dec.needs_source_au else None)[0, 0].double().numpy()

    rows, labels = [], []
    for query, edit in enumerate(edits.split(",")):
        (name, value), = parse_au_spec(edit).items()
        k = world.au_names.index(name)
        target_in, target_true = seen.copy(), true.copy()
        target_in[k] = target_true[k] = value
        cells = [world.uv_z(person, target_true[None])[0, 0].numpy() - truth_source]
        for _, dec in runs:
            cells.append(decode(dec, latent, target_in) - decode(dec, latent, seen))
        codes = world.encode(person, target_true[None], query=query)
        codes_lat = torch.from_numpy(np.concatenate([latent_of({c: v[0] for c, v in codes.items()})[JAW_EXP],
                                                     world.latent(source)[JAW_EXP.stop:]]))[None]
        cells.append(decode(runs[0][1], codes_lat, seen) - decode(runs[0][1], latent, seen))
        lim = float(np.abs(cells[0][mask]).max()) or 1e-12
        base = np.where(mask, truth_source / (float(np.abs(truth_source[mask]).max()) or 1e-12), 0.0)
        shown = [colormaps["gray"](0.5 + 0.5 * base)[..., :3]]
        for c in cells:
            rgb = colormaps["RdBu_r"](np.clip(0.5 + 0.5 * c / lim, 0, 1))[..., :3]
            shown.append(np.where(mask[..., None], rgb, 0.85))
        rows.append(np.concatenate(shown, axis=1))
        labels.append(f"{name} {seen[k]:.1f}->{value:g}\n+-{lim * 1e6:.0f} um")
    img = np.concatenate(rows, axis=0)
    size = world.size
    heads = ["source uv_z", "truth"] + [n for n, _ in runs] + [f"codes only\n({runs[0][0]})"]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(heads), 0.6 + 1.1 * len(rows)))
    ax.imshow(img, interpolation="nearest")
    ax.set_xticks([(c + 0.5) * size for c in range(len(heads))], heads, fontsize=7)
    ax.set_yticks([(r + 0.5) * size for r in range(len(rows))], labels, fontsize=7)
    ax.xaxis.tick_top()
    for c in range(1, len(heads)):
        ax.axvline(c * size - 0.5, color="white", lw=1)
    for r in range(1, len(rows)):
        ax.axhline(r * size - 0.5, color="white", lw=1)
    k = world.config
    ax.set_xlabel(f"{source} (held out); world exp_info {k.exp_info:g}, detail_leak {k.detail_leak:g}, "
                  f"AU noise {k.au_noise}: change of uv_z per edit", fontsize=7)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
