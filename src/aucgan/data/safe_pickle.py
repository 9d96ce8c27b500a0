"""The one place aucgan unpickles: a restricted unpickler for plain-data annotation files.

GANimation ships its AU annotations as ``aus_openface.pkl`` (often written by Python 2, so it needs
``encoding="latin1"``). A pickle can call any importable function while loading, so this unpickler admits
only the globals that plain containers, numbers and numpy arrays need; anything else is refused before it
is imported or called.

DECA's ``data/landmark_embedding.npy`` (an ``np.save``'d dict) also holds torch tensors. Only when the caller
asks (``allow_torch=True``) are the two globals a pickled CPU tensor names admitted as well, each replaced by
a checking stand-in: ``torch.storage._load_from_bytes`` reads the storage bytes with
``torch.load(..., weights_only=True)`` and ``torch._utils._rebuild_tensor_v2`` takes only such a storage and
no hooks. GANimation pickles never get them.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.lib.format as npy_format

from aucgan.data.errors import DataError

_ALLOWED_KINDS = ("dict, list, tuple, set, frozenset, str, bytes, int, float, complex, bool, None "
                  "and numpy arrays/scalars/dtypes")


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 writes bytes into protocol-2 pickles: only ``(str, 'latin1')``."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode is admitted only as (str, 'latin1'), got "
                                     f"({type(obj).__name__}, {encoding!r})")
    return obj.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The callables numpy's own ``__reduce__`` uses, under every module spelling numpy has written."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    out: dict[tuple[str, str], Any] = {}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        out[(f"{core}.multiarray", "scalar")] = scalar
        out[(f"{core}.numeric", "_frombuffer")] = frombuffer
    out[("numpy", "ndarray")] = np.ndarray
    out[("numpy", "dtype")] = np.dtype
    return out


def _builtin_globals() -> dict[tuple[str, str], Any]:
    plain = {"dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "str": str,
             "bytes": bytes, "int": int, "float": float, "complex": complex, "bool": bool}
    out: dict[tuple[str, str], Any] = {}
    for module in ("builtins", "__builtin__"):  # Python 3 and Python 2 spellings
        out.update({(module, name): obj for name, obj in plain.items()})
    out[("__builtin__", "unicode")] = str
    out[("__builtin__", "long")] = int
    out[("collections", "OrderedDict")] = collections.OrderedDict
    out[("_codecs", "encode")] = _latin1_encode
    return out


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {**_builtin_globals(), **_numpy_globals()}


def _load_storage_from_bytes(data: bytes) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``: the storage read with ``weights_only=True``."""
    import torch

    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"a torch storage must be given as bytes, got {type(data).__name__}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"the storage bytes hold a {type(storage).__name__}, not a torch storage")
    return storage


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                    backward_hooks: Any, metadata: Any = None) -> Any:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a plain tensor from a storage, no hooks or metadata."""
    import torch

    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"a tensor must be rebuilt from a torch storage, got {type(storage).__name__}")
    if not isinstance(storage_offset, int) or not all(isinstance(v, int) for v in (*size, *stride)):
        raise pickle.UnpicklingError("a tensor's offset, size and stride must be integers")
    if backward_hooks or metadata:
        raise pickle.UnpicklingError("a tensor with backward hooks or metadata is not plain data")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
        return torch._utils._rebuild_tensor_v2(storage, storage_offset, tuple(size), tuple(stride), False,
                                               collections.OrderedDict())


#: Admitted only with ``allow_torch=True``: the globals of a pickled CPU tensor (stand-ins above).
TORCH_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
}


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals only from :data:`ALLOWED_GLOBALS` (plus :data:`TORCH_GLOBALS` when asked; nothing
    is imported); refuses persistent ids."""

    def __init__(self, file: io.BytesIO, encoding: str, allow_torch: bool) -> None:
        super().__init__(file, encoding=encoding)
        self.allowed = {**ALLOWED_GLOBALS, **TORCH_GLOBALS} if allow_torch else ALLOWED_GLOBALS

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedGlobal("<persistent id>", repr(pid)[:40])


def loads_restricted(data: bytes, encoding: str = "latin1", source: str = "<bytes>",
                     allow_torch: bool = False) -> Any:
    """Unpickle ``data`` admitting only plain data and numpy arrays (and CPU torch tensors when
    ``allow_torch``); ``source`` names it in errors."""
    kinds = _ALLOWED_KINDS + (" and torch tensors" if allow_torch else "")
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding, allow_torch=allow_torch).load()
    except _RefusedGlobal as exc:
        raise DataError(f"{source}: refused to unpickle global {exc.qualname}: only {kinds} "
                        "are allowed (the file may be malicious or not a plain-data pickle)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, UnicodeDecodeError, OverflowError, RuntimeError) as exc:
        raise DataError(f"{source}: not a readable plain-data pickle ({type(exc).__name__}: {exc})") from None


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def load_pickle(path: str | Path, encoding: str = "latin1", allow_torch: bool = False) -> Any:
    """Read a pickle file holding only plain data and numpy arrays (e.g. GANimation's ``aus_openface.pkl``).

    ``encoding="latin1"`` reads Python-2 pickles (their byte strings hold numpy array buffers). Any other
    global (``os.system``, ``builtins.eval``, a custom class, ...) raises :class:`DataError` naming the file
    and the refused global; nothing from the file is imported or executed. ``allow_torch=True`` also admits
    CPU torch tensors (storages read with ``torch.load(..., weights_only=True)``).
    """
    path = Path(path)
    return loads_restricted(_read_bytes(path, "pickle file"), encoding=encoding, source=str(path),
                            allow_torch=allow_torch)


def load_npy(path: str | Path, encoding: str = "latin1", allow_torch: bool = False) -> Any:
    """Read a ``.npy`` file; an object array (``np.save`` of a dict or list) goes through the restricted
    unpickler instead of numpy's ``allow_pickle``. A 0-d object array gives its one object (DECA's
    ``landmark_embedding.npy`` is a dict); other arrays come back as numpy arrays."""
    path = Path(path)
    data = _read_bytes(path, "numpy file")
    stream = io.BytesIO(data)
    try:
        version = npy_format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"format version {version[0]}.{version[1]} (this reader takes 1.0 and 2.0)")
        header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, _, dtype = header(stream)
    except ValueError as exc:
        raise DataError(f"{path}: not a numpy .npy file ({exc})") from None
    if not dtype.hasobject:
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable numpy array ({exc})") from None
    array = loads_restricted(stream.read(), encoding=encoding, source=str(path), allow_torch=allow_torch)
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise DataError(f"{path}: the pickled payload is not the {tuple(shape)} object array the header names")
    return array.item() if array.shape == () else array
