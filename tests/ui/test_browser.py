"""End to end in headless Chromium (Debian's package, driven by Playwright): load the page, move an AU slider,
see the image change; nothing outside 127.0.0.1 is needed."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

CHROMIUM = os.environ.get("AUCGAN_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium, or set "
                                                          "AUCGAN_CHROMIUM); the browser test needs one")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slider_moves_the_picture(ui_session, tmp_path):
    pytest.importorskip("gradio", reason="the page needs the ui extra: pip install 'aucgan[ui]'")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the ui-test extra (playwright)")
    from aucgan.ui.app import Callbacks, launch

    start = time.perf_counter()
    port = _free_port()
    local = f"http://127.0.0.1:{port}"
    demo = launch(Callbacks(ui_session, tmp_path / "work"), port=port, block=False)
    outside: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            # Host names other than 127.0.0.1 do not resolve: the page must work without the outside world.
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=[*FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: None if r.url.startswith((local, "data:", "blob:")) else outside.append(r.url))
            page.goto(local + "/")
            picture = page.locator("#view-albedo img")
            picture.wait_for(timeout=15_000)
            before = picture.get_attribute("src")
            assert "test sample" in page.locator("#status").inner_text()
            page.locator("#au-AU12 input[type=range]").fill("4.5")
            page.wait_for_function("s => { const i = document.querySelector('#view-albedo img'); "
                                   "return i && i.src !== s; }", arg=before, timeout=15_000)
            assert "AU12 (cyan)" in page.locator("#status").inner_text()
            browser.close()
    finally:
        demo.close()
    # Gradio's page asks for an optional iframe-resizer script from a CDN; everything else is local.
    assert [u for u in outside if "iframe-resizer" not in u] == []
    assert time.perf_counter() - start < 60
