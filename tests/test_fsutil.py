import pytest

from aucgan.fsutil import OutputExistsError, atomic_write, check_output, clear_owned


def test_atomic_write_keeps_the_suffix_and_leaves_no_temp_file(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        tmp.write_text("x")

    out = atomic_write(tmp_path / "sub" / "map.png", write)
    assert out.read_text() == "x" and seen[0].suffix == ".png" and seen[0] != out
    assert sorted(p.name for p in out.parent.iterdir()) == ["map.png"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_clear_owned_removes_only_the_named_entries(tmp_path):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "x.png").write_text("x")
    (tmp_path / "manifest.csv").write_text("m")
    (tmp_path / "notes.txt").write_text("keep")
    clear_owned(tmp_path, ["maps", "manifest.csv", "absent.json"])
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(OutputExistsError, match="--force"):
        check_output(tmp_path)
