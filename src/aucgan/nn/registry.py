"""A small name -> object registry, one per family (conditioning layers, discriminators, losses, metrics).

Selecting by string is how configs reach code, so an unknown name must fail loudly and say what is valid
(as stylegan3's ``is_valid_metric``), never fall back to a default.

>>> COLOURS = Registry("colour")
>>> @COLOURS.register("red")
... class Red: ...
>>> COLOURS.get("red") is Red, "red" in COLOURS, COLOURS.names()
(True, True, ('red',))
>>> COLOURS.get("blue")
Traceback (most recent call last):
...
aucgan.nn.registry.UnknownNameError: unknown colour 'blue'; valid colour names: red
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from aucgan.errors import AucganError

T = TypeVar("T")


class UnknownNameError(AucganError, KeyError):
    """A name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Names (in registration order) -> objects of one ``kind`` (used in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator (or plain call, ``register(name)(obj)``) adding ``obj`` under ``name``; returns ``obj``.

        Registering a second, different object under a taken name is a programming error (ValueError).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} registry: names must be non-empty strings, got {name!r}")

        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered as ``name``; :class:`UnknownNameError` listing the valid names otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.kind} names: "
                                   f"{', '.join(self._entries) or '(none registered)'}") from None

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._entries)})"
