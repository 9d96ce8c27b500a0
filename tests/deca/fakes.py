"""Tiny stand-ins for DECA's and EMOCA's files (their files are never shipped or downloaded): a reference
implementation of DECA's detail decoder written from the architecture description, checkpoints in DECA's
layout, --saveMat .mat files, EMOCA --save_codes folders and OpenFace CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch
from torch import nn

from aucgan.au import AU_NAMES


class RefDetailGenerator(nn.Module):
    """DECA's detail decoder as described: Linear -> (C0, s, s), BN(C0), n x [up x2 bilinear, conv3x3,
    BN(c, eps=0.8), LeakyReLU(0.2)], conv3x3 -> 1, tanh, x out_scale. Plain torch.nn, DECA's key layout."""

    def __init__(self, latent_dim=181, channels=(128, 128, 64, 64, 32, 16), init_size=8, out_scale=0.01):
        super().__init__()
        self.c0, self.s, self.out_scale = channels[0], init_size, out_scale
        self.l1 = nn.Sequential(nn.Linear(latent_dim, channels[0] * init_size ** 2))
        layers = [nn.BatchNorm2d(channels[0])]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, cout, 3, stride=1, padding=1),
                       nn.BatchNorm2d(cout, eps=0.8), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(channels[-1], 1, 3, stride=1, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*layers)

    def forward(self, z):
        h = self.l1(z).view(z.shape[0], self.c0, self.s, self.s)
        return self.conv_blocks(h) * self.out_scale


def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics (so eval mode is not the identity normalisation)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.5 / fan_in) ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    return module


def reference(seed: int = 0, **kw) -> RefDetailGenerator:
    return randomize_(RefDetailGenerator(**kw), seed).eval()


TINY_ARCH = {"channels": (16, 16, 8, 8), "init_size": 4}     # 4 -> 32 px


def write_deca_tar(path: Path, ref: nn.Module, training: bool = True) -> Path:
    """A ``deca_model.tar`` as DECA writes it: a dict of state dicts (+ optimizer state and counters)."""
    enc = nn.Linear(4, 3)
    ckpt = {"E_flame": enc.state_dict(), "E_detail": nn.Linear(4, 2).state_dict(), "D_detail": ref.state_dict()}
    if training:
        opt = torch.optim.Adam(enc.parameters())
        enc(torch.ones(1, 4)).sum().backward()
        opt.step()
        ckpt.update(opt=opt.state_dict(), global_step=1234, batch_size=6)
    torch.save(ckpt, path)
    return path


def au_variant(ref_seed: int = 0, num_aus: int = 17, au_columns: str = "random", **kw) -> RefDetailGenerator:
    """Their variant: ``l1.0`` takes the latent plus the AUs; the AU columns zeroed or random."""
    ref = reference(ref_seed, latent_dim=181 + num_aus, **kw)
    with torch.no_grad():
        w = ref.l1[0].weight
        if au_columns == "zero":
            w[:, 181:] = 0.0
        else:
            w[:, 181:] = torch.randn(w[:, 181:].shape, generator=torch.Generator().manual_seed(99)) * 0.3
    return ref


# ------------------------------------------------------------------------------------------ tool outputs
def codes(i: int) -> dict[str, np.ndarray]:
    """EMOCA-style per-image codes (pose 6, exp 50, detail 128), seeded by ``i``."""
    rng = np.random.default_rng(100 + i)
    return {"shape": rng.normal(size=100).astype(np.float32), "pose": rng.normal(size=6).astype(np.float32) * 0.1,
            "exp": rng.normal(size=50).astype(np.float32), "detail": rng.normal(size=128).astype(np.float32),
            "tex": rng.normal(size=50).astype(np.float32)}


def write_emoca_codes(root: Path, names, with_extra_dim: bool = False, offset: int = 0) -> Path:
    """EMOCA --save_codes: ``root/<name>/{shape,exp,tex,pose,detail}.npy``; the i-th name gets ``codes(offset + i)``."""
    for i, name in enumerate(names, start=offset):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in codes(i).items():
            np.save(folder / f"{key}.npy", value[None] if with_extra_dim else value)
    return root


def fixed_displacement(size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(5)
    return (rng.normal(size=(size, size)) * 5e-4).astype(np.float64)


def uv_z_of(i: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(200 + i)
    return (np.tanh(rng.normal(size=(size, size))) * 4e-3).astype(np.float32)


def write_deca_mats(root: Path, names, size: int = 32, fixed: np.ndarray | None = None,
                    save_codes: bool = False) -> Path:
    """DECA --saveMat: ``root/<name>/<name>.mat`` with displacement_map (1, 1, S, S) = uv_z + fixed, not masked,
    plus a few of the other arrays DECA writes; ``save_codes`` adds pose/exp/detail (a modified demo)."""
    fixed = fixed_displacement(size) if fixed is None else fixed
    for i, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        data = {"displacement_map": (uv_z_of(i, size) + fixed)[None, None],
                "verts": np.zeros((1, 5, 3), np.float32), "uv_texture": np.zeros((1, 3, 4, 4), np.float32)}
        if save_codes:
            c = codes(i)
            data.update(pose=c["pose"][None], exp=c["exp"][None], detail=c["detail"][None])
        scipy.io.savemat(folder / f"{name}.mat", data)
    return root


def openface_header(au_names=AU_NAMES, layout: str = "FaceLandmarkImg") -> list[str]:
    lead = ["face", "confidence"] if layout == "FaceLandmarkImg" else ["frame", "face_id", "timestamp", "confidence",
                                                                       "success"]
    return lead + [f"{a}_r" for a in au_names] + [f"{a}_c" for a in au_names]


def au_values(i: int, au_names=AU_NAMES) -> np.ndarray:
    return np.round(np.random.default_rng(300 + i).uniform(0, 5, len(au_names)), 2)


def write_openface_per_image(folder: Path, names, au_names=AU_NAMES) -> Path:
    """FaceLandmarkImg output: one CSV per image, ``<name>.csv``, OpenFace's ", " separators."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        vals = au_values(i, au_names)
        row = ["0", "0.98"] + [f"{v:.2f}" for v in vals] + ["1" if v > 1 else "0" for v in vals]
        (folder / f"{name}.csv").write_text(", ".join(openface_header(au_names)) + "\n" + ", ".join(row) + "\n")
    return folder


def write_openface_sequence(path: Path, names, au_names=AU_NAMES) -> Path:
    """FeatureExtraction over an image folder: one CSV, frames 1..N; returns the CSV path."""
    lines = [", ".join(openface_header(au_names, "FeatureExtraction"))]
    for i, _ in enumerate(names):
        vals = au_values(i, au_names)
        lines.append(", ".join([str(i + 1), "0", f"{i * 0.04:.2f}", "0.97", "1"] + [f"{v:.2f}" for v in vals]
                               + ["1" if v > 1 else "0" for v in vals]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_emoca_image_demo(output: Path, images: dict[str, int], model: str = "EMOCA_v2_lr_mse_20",
                           offset: int = 0) -> dict[str, int]:
    """EMOCA's image demo with ``--save_codes``: ``output/<model>/<image name><face:02d>/{shape,exp,...}.npy``,
    the image name being the file name before its first dot (``img.v2.jpg`` -> ``img``). ``images`` maps image
    file names to their number of faces; returns ``{face folder: codes index}`` (``codes(offset + k)``, k
    counting the faces written in order)."""
    written, k = {}, offset
    for file_name, faces in images.items():
        for face in range(faces):
            folder = f"{file_name.split('.')[0]}{face:02d}"
            write_emoca_codes(output / model, [folder], offset=k)
            written[folder] = k
            k += 1
    return written


def write_openface_faces(folder: Path, images: dict[str, int], au_names=AU_NAMES) -> Path:
    """FaceLandmarkImg output for image files with several faces: ``<file stem>.csv`` (OpenFace strips only the
    last extension: ``img.v2.jpg`` -> ``img.v2.csv``), one row per face; the i-th image's face 0 gets
    ``au_values(i)`` at confidence 0.98, other faces other values at lower confidence."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (file_name, faces) in enumerate(images.items()):
        lines = [", ".join(openface_header(au_names))]
        for face in range(faces):
            vals = au_values(i if face == 0 else 1000 + 10 * i + face, au_names)
            lines.append(", ".join([str(face), "0.98" if face == 0 else "0.60"] + [f"{v:.2f}" for v in vals]
                                   + ["1" if v > 1 else "0" for v in vals]))
        (folder / f"{Path(file_name).stem}.csv").write_text("\n".join(lines) + "\n")
    return folder


def write_deca_mats_from(root: Path, names, latents: np.ndarray, decoder: nn.Module, fixed: np.ndarray,
                         save_codes: bool = False, code_index=None) -> Path:
    """DECA --saveMat outputs whose ``displacement_map`` is ``decoder(latent) + fixed``: maps and codes of one
    model (``save_codes``: codes(code_index[i]) saved as a modified demo would)."""
    with torch.no_grad():
        uv = decoder(torch.from_numpy(latents.astype(np.float32))).numpy()
    for i, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        data = {"displacement_map": (uv[i, 0] + fixed)[None, None].astype(np.float32)}
        if save_codes:
            c = codes(i if code_index is None else code_index[i])
            data.update(pose=c["pose"][None], exp=c["exp"][None], detail=c["detail"][None])
        scipy.io.savemat(folder / f"{name}.mat", data)
    return root
