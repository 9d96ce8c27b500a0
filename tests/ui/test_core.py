"""The editor session: edits, views, downloads and bad input (no Gradio, no browser)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from aucgan.au import au_indices
from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE
from aucgan.inference import Editor
from aucgan.ui import UIError
from aucgan.ui.core import EditorSession
from aucgan.ui.views import VIEWS

from tests.ui.conftest import TINY_G, write_untrained_run


def test_slider_update_matches_the_editor_and_marks_moved_aus(ui_session, ui_run):
    s = ui_session
    ids = s.sources.sample_ids()
    assert ids and all(i.startswith("id") for i in ids)
    src = s.sources.load_sample(ids[0])
    base = s.update(src, list(src.au))
    assert base.moved == [] and set(base.images) == set(VIEWS)
    maps_views = [v for v in VIEWS if v != "photo"]
    assert all(base.images[v].shape == (256, 256, 3) and base.images[v].dtype == np.uint8 for v in maps_views)
    assert base.images["photo"] is None
    target = src.au.copy()
    target[au_indices(["AU12"])[0]] = 5.0
    moved = s.update(src, list(target), azimuth=90, tilt=60)
    assert moved.moved == [("AU12", "cyan")]
    assert not np.array_equal(moved.images["albedo"], base.images["albedo"])
    assert (moved.images["change"] == (0, 255, 255)).all(axis=-1).any()     # the AU12 footprint outline
    assert not (base.images["change"] == (0, 255, 255)).all(axis=-1).any()
    ref = Editor.from_run(ui_run).edit(src.maps, target, src.landmarks, src.au)     # the cached-encoding path agrees
    for name, t in ref.items():
        if name in moved.maps:
            assert torch.allclose(moved.maps[name], t, atol=1e-5), name


def test_lighting_changes_only_the_lit_views(ui_session):
    src = ui_session.sources.first_source()
    a = ui_session.update(src, list(src.au), azimuth=-90, tilt=70)
    b = ui_session.update(src, list(src.au), azimuth=90, tilt=70)
    assert np.array_equal(a.images["albedo"], b.images["albedo"])
    assert not np.array_equal(a.images["render"], b.images["render"])
    assert not np.array_equal(a.images["shaded"], b.images["shaded"])


def test_prototypes_and_bad_values(ui_session):
    v = ui_session.prototype("happiness", 4)
    assert v[au_indices(["AU06"])[0]] == 4 and v[au_indices(["AU12"])[0]] == 4 and v.sum() == 8
    assert ui_session.prototype("neutral").sum() == 0
    with pytest.raises(UIError, match="unknown expression"):
        ui_session.prototype("boredom")
    src = ui_session.sources.first_source()
    with pytest.raises(UIError, match="outside 0..5"):
        ui_session.update(src, [7.0] * 17)
    with pytest.raises(UIError, match="3 AU values"):
        ui_session.update(src, [1.0] * 3)


def test_download_round_trips_through_upload(ui_session, tmp_path):
    src = ui_session.sources.first_source()
    target = ui_session.prototype("surprise", 3)
    result = ui_session.update(src, target)
    zpath = ui_session.export_maps(src, result, tmp_path / "dl")
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unzipped")
    assert {"edited_albedo.png", "edited_displacement.png", "edited_normal.png", "au.json"} <= names
    record = json.loads((tmp_path / "unzipped" / "au.json").read_text())
    assert record["au"]["AU26"] == 3 and record["spec"].startswith("AU01=3")
    files = [tmp_path / "unzipped" / n for n in ("edited_albedo.png", "edited_displacement.png", "au.json")]
    back = ui_session.sources.load_map_files(files)
    assert np.allclose(back.au, target)
    assert torch.allclose(back.maps["albedo"], result.maps["albedo"], atol=1 / 255 + 1e-6)
    # the 16-bit PNG stores the range [offset, offset + scale]; an edit beyond it is clipped in the file
    stored = result.maps["displacement"].clamp(DEFAULT_DISP_OFFSET, DEFAULT_DISP_OFFSET + DEFAULT_DISP_SCALE)
    assert torch.allclose(back.maps["displacement"], stored, atol=1e-3)


def test_not_a_run_is_a_message(tmp_path, ui_run):
    with pytest.raises(UIError, match="no such run directory"):
        EditorSession.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UIError, match="not a usable aucgan training run.*no config.json"):
        EditorSession.open(tmp_path / "empty")
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model": "resnet50", "lr": 0.1}))
    with pytest.raises(UIError, match="not a usable aucgan training run"):
        EditorSession.open(other)
    broken = write_untrained_run(tmp_path / "broken", TINY_G)
    for f in broken.glob("checkpoints/step-*/G_ema.safetensors"):
        f.write_bytes(b"garbage")
    with pytest.raises(UIError, match="not a usable aucgan training run"):
        EditorSession.open(broken)


def test_extra_conditions_change_the_output(tmp_path, tiny_bench):
    # a direct head: the au_residual head changes maps only where AUs move (attributes alone change nothing)
    run = write_untrained_run(tmp_path / "extra", [*TINY_G, "generator.extra_attrs=[emotion,age]",
                                                   "generator.head=direct", "generator.au_mode=absolute"], tiny_bench)
    s = EditorSession.open(run)
    assert s.extra_names == ("emotion", "age")
    src = s.sources.first_source()
    a = s.update(src, list(src.au), extras={"emotion": "happiness", "age": 20})
    b = s.update(src, list(src.au), extras={"emotion": "anger", "age": 70})
    assert not torch.equal(a.maps["albedo"], b.maps["albedo"])
    with pytest.raises(UIError, match="unknown emotion"):
        s.update(src, list(src.au), extras={"emotion": "boredom"})


def test_improved_edits_the_expression_relative_to_the_source(tmp_path, tiny_bench):
    """improved's expression residuals: the page's emotion/valence act as a change from the source's own labels
    (a data set sample) or from a neutral face (an upload without labels), in colour only."""
    run = write_untrained_run(tmp_path / "imp", TINY_G, tiny_bench, preset="improved", perturb=True)
    s = EditorSession.open(run)
    assert s.extra_names == ("emotion", "valence")
    src = s.sources.first_source()
    assert {"emotion", "valence"} <= set(src.attrs)
    assert s.editor.source_attrs({}) == {"emotion": "neutral", "valence": 0.0}   # an upload reads as neutral
    assert s.editor.source_attrs({"valence": 0.5}) == {"emotion": "neutral", "valence": 0.5}
    own = {"emotion": src.attrs["emotion"], "valence": src.attrs["valence"]}
    same = s.update(src, list(src.au), extras=own)
    for name, value in same.maps.items():
        if name in src.maps:
            assert torch.allclose(value, src.maps[name], atol=2e-3), name    # nothing asked, nothing changes
    other = {"emotion": "anger" if src.attrs["emotion"] != 5 else "happiness", "valence": -0.8}
    moved = s.update(src, list(src.au), extras=other)
    assert not torch.allclose(moved.maps["albedo"], same.maps["albedo"], atol=1e-4)
    assert torch.equal(moved.maps["displacement"], same.maps["displacement"])
