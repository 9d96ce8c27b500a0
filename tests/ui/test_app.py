"""The page's callbacks as plain functions: they never raise, bad input comes back as a message."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aucgan.au import au_indices
from aucgan.ui.app import KEEP, Callbacks
from aucgan.ui.core import EditorSession
from aucgan.ui.views import VIEWS

N_VIEWS = len(VIEWS)


@pytest.fixture()
def cb(ui_session, tmp_path):
    return Callbacks(ui_session, tmp_path / "work")


def test_initial_then_slider_then_prototype(cb):
    out = cb.initial(-40, 40, 3)
    source, aus, views, status = out[0], out[1:18], out[18:18 + N_VIEWS], out[-1]
    assert len(out) == 1 + 17 + N_VIEWS + 1 and "test sample" in status
    assert all(isinstance(v, np.ndarray) for v in views[:-1]) and views[-1] is None   # no photo
    aus[au_indices(["AU04"])[0]] = 5.0
    moved = cb.edit(source, -40, 40, 3, *aus)
    assert len(moved) == N_VIEWS + 1 and "AU04 (cyan)" in moved[-1]
    assert not np.array_equal(moved[0], views[0])
    proto = cb.prototype("anger", 2.0, source, 0, 30, 3)
    values = proto[:17]
    assert values[au_indices(["AU23"])[0]] == 2.0 and values[au_indices(["AU12"])[0]] == 0.0
    assert "AU23" in proto[-1]


def test_bad_input_gives_messages_not_exceptions(cb, tmp_path):
    out = cb.edit(None, 0, 30, 3, *([0.0] * 17))
    assert out[:-1] == [KEEP] * N_VIEWS and out[-1].startswith("**Error:** no face loaded")
    source = cb.initial(0, 30, 3)[0]
    assert cb.edit(source, 0, 30, 3, *([9.0] * 17))[-1].startswith("**Error:** AU values")
    assert "expected 17 AU values" in cb.edit(source, 0, 30, 3, 1.0)[-1]
    junk = tmp_path / "junk_albedo.png"
    junk.write_bytes(b"\x00not a png")
    disp = tmp_path / "junk_displacement.png"
    Image.new("L", (32, 32)).save(disp)
    out = cb.upload_maps([str(junk), str(disp)], 0, 30, 3)
    assert out[:-1] == [KEEP] * (len(out) - 1) and "not an image" in out[-1]
    assert "no sample id" in cb.load_sample("", 0, 30, 3)[-1]
    assert "no sample with id 'nobody'" in cb.load_sample("nobody", 0, 30, 3)[-1]
    assert cb.download(None, *([0.0] * 17)) == [KEEP, "**Error:** no face loaded yet"]


def test_load_run_swaps_compatible_runs_and_refuses_others(cb, ui_run, tmp_path):
    out = cb.load_run(str(tmp_path))
    assert out[0] is KEEP and "not a usable aucgan training run" in out[1]
    out = cb.load_run(str(ui_run))
    assert "preset `improved-v1`" in out[0] and cb.session.run_dir == Path(ui_run)


def test_downloads(cb):
    out = cb.initial(0, 30, 3)
    source, aus = out[0], out[1:18]
    path, status = cb.download(source, *aus)
    assert Path(path).is_file() and "ready" in status
    with zipfile.ZipFile(path) as zf:
        assert "edited_displacement.png" in zf.namelist()
    path, status = cb.save_au(source, *aus)
    record = json.loads(Path(path).read_text())
    assert list(record["au"]) == list(EditorSession.open(cb.session.run_dir).au_names)
    assert "AU vector saved" in status


def test_page_builds(cb):
    pytest.importorskip("gradio", reason="the page needs the ui extra: pip install 'aucgan[ui]'")
    from aucgan.ui.app import build_app

    demo = build_app(cb)
    assert demo.analytics_enabled is False
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"au-AU12", "au-AU45", "view-change", "light-azimuth", "proto-happiness", "download"} <= ids


def test_server_refuses_uploads_over_the_limit(ui_run, tmp_path):
    pytest.importorskip("gradio", reason="the page needs the ui extra: pip install 'aucgan[ui]'")
    import socket

    import httpx

    from aucgan.ui.app import launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch(Callbacks(EditorSession.open(ui_run, max_upload_mb=0.01), tmp_path / "work"), port=port,
                  block=False)
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/upload"
        big = httpx.post(url, files={"files": ("big_albedo.png", b"\0" * 20_000)}, timeout=30)
        small = httpx.post(url, files={"files": ("small_albedo.png", b"\0" * 2_000)}, timeout=30)
    finally:
        demo.close()
    assert big.status_code == 413 and "maximum allowed size" in big.text
    assert small.status_code == 200


def test_extra_condition_controls(tiny_bench, tmp_path):
    from tests.ui.conftest import TINY_G, write_untrained_run

    # a direct head: improved's au_residual head changes the maps only where AUs move, so attributes alone
    # (same AUs) would rightly change nothing
    run = write_untrained_run(tmp_path / "run", [*TINY_G, "generator.extra_attrs=[emotion,age,landmarks]",
                                                 "generator.head=direct", "generator.au_mode=absolute"],
                              tiny_bench)
    cb = Callbacks(EditorSession.open(run), tmp_path / "work")
    assert cb.extra_names == ("emotion", "age")          # landmarks come from the face, not a control
    out = cb.initial(0, 30, 3)
    source, aus, extras = out[0], out[1:18], out[18:20]
    assert extras[0] in ("neutral", "happiness", "sadness", "surprise", "fear", "anger", "disgust")
    assert 10 <= extras[1] <= 90
    a = cb.edit(source, 0, 30, 3, *aus, "happiness", 25.0)
    b = cb.edit(source, 0, 30, 3, *aus, "anger", 80.0)
    assert not np.array_equal(a[0], b[0])
    assert "unknown emotion 'bored'" in cb.edit(source, 0, 30, 3, *aus, "bored", 25.0)[-1]
    proto = cb.prototype("fear", 3.0, source, 0, 30, 3, "fear", 30.0)
    assert proto[au_indices(["AU20"])[0]] == 3.0
