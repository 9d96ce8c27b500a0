"""GANimation folders: Python-2 protocol-2 ``aus_openface.pkl``, ``imgs/``, id lists, and their problems."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.data.errors import DataError
from aucgan.data.ganimation import is_ganimation_folder, read_ganimation
from aucgan.data.mapio import save_rgb

from tests.data.test_safe_pickle import python2_pickle


def write_ganimation_folder(root, entries: dict, train=None, test=None, images=None, size: int = 32,
                            python2: bool = True, ext: str = ".jpg"):
    """A GANimation-style folder: ``aus_openface.pkl`` (dict stem -> 17 floats), ``imgs/<stem><ext>``,
    optional ``train_ids.csv``/``test_ids.csv`` (one file name per line). ``images``: stems given an image
    (default: every entry)."""
    root.mkdir(parents=True, exist_ok=True)
    payload = python2_pickle(entries) if python2 else pickle.dumps(entries, protocol=2)
    (root / "aus_openface.pkl").write_bytes(payload)
    (root / "imgs").mkdir(exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    for stem in entries if images is None else images:
        save_rgb(root / "imgs" / f"{stem}{ext}", torch.rand(3, size, size, generator=gen))
    for name, ids in (("train_ids.csv", train), ("test_ids.csv", test)):
        if ids is not None:
            (root / name).write_text("\n".join(ids) + "\n")
    return root


def _entries(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"N_{k:010d}_00001": rng.uniform(0, 5, 17).round(2) for k in range(n)}


def test_python2_pickle_folder_with_splits(tmp_path):
    entries = _entries(5)
    stems = list(entries)
    folder = write_ganimation_folder(tmp_path / "ga", entries, train=[f"{s}.jpg" for s in stems[:3]],
                                     test=stems[3:])  # with and without extension
    assert is_ganimation_folder(folder) and not is_ganimation_folder(tmp_path)
    data = read_ganimation(folder)
    assert [r.stem for r in data.records] == stems
    assert [r.split for r in data.records] == ["train"] * 3 + ["test"] * 2
    np.testing.assert_allclose(data.au_matrix(), np.stack(list(entries.values())), atol=1e-6)
    assert all(r.image is not None and r.image.name == f"{r.stem}.jpg" for r in data.records)
    assert data.problems == []
    subset = read_ganimation(folder, au_names=["AU12", "AU01"])
    au12 = [v[AU_NAMES.index("AU12")] for v in entries.values()]
    np.testing.assert_allclose(subset.au_matrix()[:, 0], au12, atol=1e-6)


def test_python3_pickle_without_id_lists_uses_every_entry(tmp_path):
    entries = _entries(3)
    folder = write_ganimation_folder(tmp_path / "ga", entries, python2=False)
    data = read_ganimation(folder)
    assert sorted(r.stem for r in data.records) == sorted(entries)
    assert {r.split for r in data.records} == {None}


def test_listed_id_without_au_entry_or_image(tmp_path):
    entries = _entries(3)
    stems = list(entries)
    folder = write_ganimation_folder(tmp_path / "ga", entries, train=[*stems, "ghost.jpg"], images=stems[:2])
    with pytest.raises(DataError, match=r"train_ids.csv: line 4: id 'ghost' has no AU entry in aus_openface"):
        read_ganimation(folder)
    data = read_ganimation(folder, strict=False)
    assert [r.stem for r in data.records] == stems
    assert data.records[2].image is None
    assert any("ghost" in p for p in data.problems)
    assert any("1 sample(s) have no image" in p and stems[2] in p for p in data.problems)


@pytest.mark.parametrize("value, message", [
    (np.zeros(16), r"entry 'bad': AU vector has shape \(16,\), expected \(17,\)"),
    (np.r_[np.zeros(8), np.nan, np.zeros(8)], r"entry 'bad', field AU12: NaN"),
    (np.r_[np.zeros(16), 6.0], r"entry 'bad', field AU45: 6 is outside 0..5"),
])
def test_bad_au_vectors_name_the_entry_and_field(tmp_path, value, message):
    entries = {**_entries(2), "bad": value}
    folder = write_ganimation_folder(tmp_path / "ga", entries, python2=False)
    with pytest.raises(DataError, match=message):
        read_ganimation(folder)
    lenient = read_ganimation(folder, strict=False)
    assert len(lenient.records) == 2 and len(lenient.problems) == 1


def test_malicious_pickle_in_folder_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    folder = write_ganimation_folder(tmp_path / "ga", _entries(1))
    (folder / "aus_openface.pkl").write_bytes(pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(DataError, match="refused to unpickle global"):
        read_ganimation(folder)
    assert not (tmp_path / "pwned").exists()


def test_pickle_that_is_not_a_dict(tmp_path):
    folder = write_ganimation_folder(tmp_path / "ga", _entries(1))
    (folder / "aus_openface.pkl").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(DataError, match="expected a dict of image stem"):
        read_ganimation(folder)
