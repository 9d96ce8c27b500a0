"""The one place aucgan unpickles: a restricted unpickler for plain-data annotation files.

GANimation ships its AU annotations as ``aus_openface.pkl`` (often written by Python 2, so it needs
``encoding="latin1"``). A pickle can call any importable function while loading, so this unpickler admits
only the globals that plain containers, numbers and numpy arrays need; anything else is refused before it
is imported or called.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

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


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals only from :data:`ALLOWED_GLOBALS` (nothing is imported); refuses persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedGlobal("<persistent id>", repr(pid)[:40])


def loads_restricted(data: bytes, encoding: str = "latin1", source: str = "<bytes>") -> Any:
    """Unpickle ``data`` admitting only plain data and numpy arrays; ``source`` names it in errors."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except _RefusedGlobal as exc:
        raise DataError(f"{source}: refused to unpickle global {exc.qualname}: only {_ALLOWED_KINDS} "
                        "are allowed (the file may be malicious or not a plain-data pickle)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, UnicodeDecodeError, OverflowError) as exc:
        raise DataError(f"{source}: not a readable plain-data pickle ({type(exc).__name__}: {exc})") from None


def load_pickle(path: str | Path, encoding: str = "latin1") -> Any:
    """Read a pickle file holding only plain data and numpy arrays (e.g. GANimation's ``aus_openface.pkl``).

    ``encoding="latin1"`` reads Python-2 pickles (their byte strings hold numpy array buffers). Any other
    global (``os.system``, ``builtins.eval``, a custom class, ...) raises :class:`DataError` naming the file
    and the refused global; nothing from the file is imported or executed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such pickle file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return loads_restricted(data, encoding=encoding, source=str(path))
