"""The restricted unpickler: plain data and numpy arrays load (Python-2 layouts too); the rest is refused."""

from __future__ import annotations

import builtins
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from aucgan.data.errors import DataError
from aucgan.data.safe_pickle import load_pickle, loads_restricted


def _short_binstring(s: bytes) -> bytes:
    return b"U" + bytes([len(s)]) + s


def python2_pickle(entries: dict[str, np.ndarray]) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) writes for a dict of float64 arrays, as GANimation's
    ``aus_openface.pkl``: keys and array buffers are Python-2 byte strings, numpy lives in ``numpy.core``."""
    out = [b"\x80\x02}("]
    for key, arr in entries.items():
        arr = np.ascontiguousarray(arr, dtype="<f8")
        raw = arr.tobytes()
        out += [_short_binstring(key.encode("latin1")),
                b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy\nndarray\n",
                b"K\x00\x85", _short_binstring(b"b"), b"\x87R(K\x01", b"K" + bytes([arr.shape[0]]) + b"\x85",
                b"cnumpy\ndtype\n", _short_binstring(b"f8"), b"K\x00K\x01\x87R(K\x03", _short_binstring(b"<"),
                b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89", b"T" + struct.pack("<i", len(raw)) + raw,
                b"tb"]
    out.append(b"u.")
    return b"".join(out)


class _SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalCall:
    def __reduce__(self):
        return (builtins.eval, ("1 + 1",))


class Custom:
    """A user class: not plain data."""

    def __init__(self) -> None:
        self.value = 3


def test_python2_protocol2_dict_of_float_arrays_loads(tmp_path):
    rng = np.random.default_rng(0)
    entries = {"N_0000000001_00001": rng.uniform(0, 5, 17), "N_0000000002_00007": np.zeros(17)}
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(python2_pickle(entries))
    data = load_pickle(path)
    assert set(data) == set(entries)
    for key, arr in entries.items():
        assert isinstance(data[key], np.ndarray) and data[key].dtype == np.float64
        np.testing.assert_array_equal(data[key], arr)


def test_python2_pickle_needs_latin1(tmp_path):
    path = tmp_path / "aus.pkl"
    path.write_bytes(python2_pickle({"a": np.linspace(0, 5, 17)}))
    with pytest.raises(DataError, match=re.escape(str(path))):
        load_pickle(path, encoding="ascii")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_and_numpy_round_trip(protocol):
    data = {"arr": np.arange(6, dtype=np.float32).reshape(2, 3), "scalar": np.float64(2.5),
            "int": np.int32(-3), "list": [1, 2.5, "x", None, True], "tuple": (1, b"raw"), "set": {1, 2},
            "frozen": frozenset({"a"}), "complex": 1 + 2j, "big": 2**70, "nested": {"k": [np.zeros(2)]}}
    out = loads_restricted(pickle.dumps(data, protocol=protocol))
    assert out.keys() == data.keys()
    np.testing.assert_array_equal(out["arr"], data["arr"])
    assert out["arr"].dtype == np.float32
    assert out["scalar"] == 2.5 and out["int"] == -3 and out["int"].dtype == np.int32
    assert out["list"] == data["list"] and out["tuple"] == data["tuple"] and out["set"] == {1, 2}
    assert out["frozen"] == frozenset({"a"}) and out["complex"] == 1 + 2j and out["big"] == 2**70
    np.testing.assert_array_equal(out["nested"]["k"][0], np.zeros(2))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_system_call_is_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(pickle.dumps({"a": _SystemCall(f"touch {marker}")}, protocol=protocol))
    with pytest.raises(DataError) as err:
        load_pickle(path)
    message = str(err.value)
    assert str(path) in message and "system" in message and "refused" in message
    assert not marker.exists()


@pytest.mark.parametrize("payload, refused", [(_EvalCall(), "builtin__.eval"), (Custom(), "Custom"),
                                              (Path("x"), "Path")])
def test_other_globals_are_refused_with_their_name(payload, refused):
    with pytest.raises(DataError, match=re.escape(refused)):
        loads_restricted(pickle.dumps(payload, protocol=2), source="evil.pkl")


def test_codecs_encode_is_only_admitted_for_latin1_strings():
    evil = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    with pytest.raises(DataError, match="latin1"):
        loads_restricted(evil)


def test_truncated_and_missing_files_are_data_errors(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(17)}, protocol=2)[:-9])
    with pytest.raises(DataError, match="not a readable plain-data pickle"):
        load_pickle(path)
    with pytest.raises(DataError, match="no such pickle file"):
        load_pickle(tmp_path / "absent.pkl")


def test_no_other_module_in_src_unpickles():
    src = Path(__file__).resolve().parents[2] / "src" / "aucgan"
    pattern = re.compile(r"^\s*(import pickle|from pickle import)|pickle\.loads?\(|Unpickler\(|"
                         r"torch\.load\((?![^)]*weights_only=True)|allow_pickle=True", re.MULTILINE)
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "safe_pickle.py" and pattern.search(p.read_text())]
    assert offenders == []


# ------------------------------------------------------------------ torch tensors (DECA's landmark_embedding.npy)

def _deca_like_embedding(path: Path) -> dict:
    """An ``np.save``'d dict as DECA's ``landmark_embedding.npy``: numpy arrays beside torch tensors."""
    import torch

    data = {"full_lmk_faces_idx": np.arange(68, dtype=np.int64).reshape(1, 68),
            "full_lmk_bary_coords": np.full((1, 68, 3), 1.0 / 3.0),
            "dynamic_lmk_faces_idx": torch.arange(12, dtype=torch.int64).reshape(3, 4),
            "dynamic_lmk_bary_coords": torch.linspace(0, 1, 36, dtype=torch.float32).reshape(3, 4, 3)}
    np.save(path, data, allow_pickle=True)
    return data


def test_npy_dict_with_torch_tensors_loads_only_when_torch_is_allowed(tmp_path):
    import torch

    from aucgan.data.safe_pickle import load_npy

    path = tmp_path / "landmark_embedding.npy"
    data = _deca_like_embedding(path)
    with pytest.raises(DataError, match=r"refused to unpickle global torch\.") as err:
        load_npy(path)
    assert str(path) in str(err.value)
    out = load_npy(path, allow_torch=True)
    assert set(out) == set(data)
    np.testing.assert_array_equal(out["full_lmk_faces_idx"], data["full_lmk_faces_idx"])
    assert isinstance(out["dynamic_lmk_bary_coords"], torch.Tensor)
    assert torch.equal(out["dynamic_lmk_faces_idx"], data["dynamic_lmk_faces_idx"])
    assert torch.equal(out["dynamic_lmk_bary_coords"], data["dynamic_lmk_bary_coords"])
    assert not out["dynamic_lmk_bary_coords"].requires_grad


def test_npy_plain_arrays_load_without_pickle(tmp_path):
    from aucgan.data.safe_pickle import load_npy

    path = tmp_path / "a.npy"
    np.save(path, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(load_npy(path), np.arange(6.0).reshape(2, 3))
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError, match="not a numpy .npy file"):
        load_npy(tmp_path / "bad.npy")
    with pytest.raises(DataError, match="no such numpy file"):
        load_npy(tmp_path / "absent.npy")


def test_torch_allowance_still_refuses_every_other_global(tmp_path):
    from aucgan.data.safe_pickle import load_npy

    marker = tmp_path / "pwned"
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, {"full_lmk_faces_idx": _SystemCall(f"touch {marker}")}, allow_pickle=True)
    with pytest.raises(DataError, match=r"refused to unpickle global posix\.system|refused.*system"):
        load_npy(path, allow_torch=True)
    assert not marker.exists()
    with pytest.raises(DataError, match="builtin__.eval"):
        loads_restricted(pickle.dumps(_EvalCall(), protocol=2), allow_torch=True)


class _StorageBytes:
    """Pickles as ``torch.storage._load_from_bytes(payload)``: what a tensor's storage names."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self):
        import torch.storage

        return (torch.storage._load_from_bytes, (self.payload,))


def test_storage_bytes_are_read_with_weights_only_and_must_hold_a_storage(tmp_path):
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"not": "a storage"}, buf, _use_new_zipfile_serialization=False)
    with pytest.raises(DataError, match="not a torch storage"):
        loads_restricted(pickle.dumps(_StorageBytes(buf.getvalue())), allow_torch=True)
    marker = tmp_path / "pwned"
    evil = io.BytesIO()
    torch.save(_SystemCall(f"touch {marker}"), evil, _use_new_zipfile_serialization=False)
    with pytest.raises(DataError, match="not a readable plain-data pickle"):
        loads_restricted(pickle.dumps(_StorageBytes(evil.getvalue())), allow_torch=True)
    assert not marker.exists()
