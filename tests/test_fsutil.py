import pytest

from aucgan.fsutil import OutputExistsError, atomic_write, check_output, claim_folder, clear_owned


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


def test_claim_folder_refuses_then_replaces_only_what_it_owns(tmp_path):
    out = tmp_path / "set"
    assert claim_folder(out, ["maps"]).is_dir()                 # missing: created
    (out / "maps").mkdir()
    (out / "maps" / "a.png").write_bytes(b"x")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty; pass --force"):
        claim_folder(out, ["maps"])
    claim_folder(out, ["maps"], force=True)
    assert not (out / "maps").exists() and (out / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        claim_folder(tmp_path / "file", [], force=True)
