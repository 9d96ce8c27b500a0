"""Progress lines: label, position, rate, time left; quiet when off."""

from __future__ import annotations

import io

from aucgan.progress import Progress, format_seconds


def test_format_seconds() -> None:
    assert format_seconds(7) == "7s"
    assert format_seconds(125) == "2m05s"
    assert format_seconds(3725) == "1h02m"


def test_lines_mode_prints_label_position_rate_and_end() -> None:
    out = io.StringIO()
    p = Progress(4, "preset=improved", images_per_unit=16, mode="lines", stream=out, interval=0.0)
    p.update(1, {"G": 0.5})
    p.update(3)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("preset=improved: step 1/4 (25%)")
    assert "img/s" in lines[0] and "left" in lines[0] and "G 0.5" in lines[0]
    assert lines[1].startswith("preset=improved: step 4/4 (100%)") and "done in" in lines[1]


def test_lines_mode_waits_for_interval_and_reports_an_early_stop() -> None:
    out = io.StringIO()
    p = Progress(10, "eval", unit="checkpoint", initial=2, mode="lines", stream=out, interval=3600.0)
    p.update(1)
    assert out.getvalue() == ""
    p.close()
    assert out.getvalue().startswith("eval: checkpoint 3/10 (30%)")


def test_off_and_auto_on_a_non_terminal() -> None:
    out = io.StringIO()
    with Progress(3, "x", mode="off", stream=out) as p:
        p.update(3)
    assert out.getvalue() == ""
    assert Progress(3, "x", stream=io.StringIO()).mode == "lines"
