"""Mask maps (e.g. the photo visibility ``aucgan prepare`` writes) reach the batches the losses weigh by."""

import numpy as np
import torch
from PIL import Image

from aucgan.data.codec import MapCodec
from aucgan.data.datasets import open_dataset
from aucgan.losses.reconstruction import reconstruction_loss
from aucgan.training.data import TrainData


def _write_set(root, with_mask: bool):
    (root / "maps").mkdir(parents=True)
    rows = ["id,albedo,displacement" + (",mask" if with_mask else "") + ",AU12"]
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(root / "maps" / f"s{i}_albedo.png")
        Image.fromarray(np.full((16, 16), 32768, np.uint16)).save(root / "maps" / f"s{i}_displacement.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[:, : 4 * (i + 1)] = 255
        Image.fromarray(mask).save(root / "maps" / f"s{i}_mask.png")
        cols = [f"s{i}", f"maps/s{i}_albedo.png", f"maps/s{i}_displacement.png"]
        rows.append(",".join(cols + ([f"maps/s{i}_mask.png"] if with_mask else []) + [str(i)]))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return open_dataset(root, au_names=["AU12"])


def test_masks_travel_into_batches(tmp_path):
    data = TrainData(_write_set(tmp_path / "m", True), MapCodec(), ["AU12"], 8)
    assert data.mask.shape == (3, 1, 8, 8) and data.x.shape == (3, 4, 8, 8)
    b = data.batch(torch.tensor([2, 0]), torch.Generator().manual_seed(0))
    assert b.mask.shape == (2, 1, 8, 8)
    assert float(b.mask[1, 0, :, :2].min()) > 0.99 and float(b.mask[1, 0, :, 4:].max()) < 0.01
    # outside the mask a wrong output costs nothing
    wrong = b.x.clone()
    wrong[:, :, :, 6:] += 5.0
    loss, _ = reconstruction_loss(wrong[1:], b.x[1:], b.mask[1:])
    assert float(loss) == 0.0


def test_no_mask_maps_no_mask(tmp_path):
    data = TrainData(_write_set(tmp_path / "n", False), MapCodec(), ["AU12"], 8)
    assert data.mask is None and data.batch(torch.tensor([0, 1]), torch.Generator()).mask is None
