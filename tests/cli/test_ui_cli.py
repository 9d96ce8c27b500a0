"""aucgan ui: arguments and a bad checkpoint as one line with status 2 (the page itself is tested in tests/ui)."""

from __future__ import annotations

from aucgan.cli import main


def test_not_a_run_is_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model": "something else"}')
    assert main(["ui", "--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aucgan ui: error: not a usable aucgan training run") and "\n" not in err
    assert main(["ui", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_bad_port_and_limit(tmp_path, capsys):
    assert main(["ui", "--checkpoint", str(tmp_path), "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err
    assert main(["ui", "--checkpoint", str(tmp_path), "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb" in capsys.readouterr().err
