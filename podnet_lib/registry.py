"""Named choices: one `Registry` per kind (methods, poolings, classifiers, backbones, ...).

A registry is the only list of its names. It maps each name to what the name builds (a class,
a function) and checks a value against those names with a one-line error that names the field
and the allowed values, so validation sits next to the list it validates.
"""
from __future__ import annotations

from typing import Generic, Iterator, Mapping, TypeVar

from podnet_lib.config import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """An immutable name -> entry mapping that knows the config field it serves."""

    def __init__(self, field: str, entries: Mapping[str, T]):
        self.field = field
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[self.check(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.field!r}: {', '.join(self._entries)})"

    def check(self, value: object, field: str | None = None) -> str:
        """`value` if it is a registered name, else ConfigError naming `field` and the names."""
        if not isinstance(value, str) or value not in self._entries:
            raise ConfigError(f"{field or self.field}={value!r} is not valid; "
                              f"allowed values: {', '.join(self._entries)}")
        return value
