"""Where users extend nbmlops: one registry shape for every kind of plugin.

A kind of plugin (export targets, model formats) is a :class:`Plugins` object: a
``Protocol`` its implementations follow, :meth:`~Plugins.register` for code that adds
one at run time, and an entry point group for installed packages::

    # a plugin package's pyproject.toml
    [project.entry-points."nbmlops.export_targets"]
    nomad = "nbmlops_nomad:target"      # an object following nbmlops.export.ExportTarget

Entry points are read once, on the first lookup or listing of names (never at import),
and a plugin is imported only then. One that cannot be loaded, or whose object does not
follow the protocol, is left out with a warning naming it; the others still work. An
entry point never replaces a name already there (a built-in, or one given to
``register``); ``register`` replaces what it is told to.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Plugins(Generic[T]):
    """The implementations of one kind of plugin, by name."""

    def __init__(self, kind: str, group: str, protocol: type[Any], *,
                 unknown: Callable[[str, Sequence[str]], Exception],
                 validate: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind  # "export target": how messages name one
        self.group = group  # the entry point group
        self._protocol = protocol  # a runtime_checkable Protocol
        self._unknown = unknown  # the error for a name nobody provides
        self._validate = validate  # more checks of an implementation (raises ValueError)
        self._items: dict[str, T] = {}
        self._lock = threading.RLock()  # a plugin may register() while it is loaded
        self._loaded = False

    def register(self, name: str, impl: T) -> T:
        """Make ``impl`` the implementation called ``name`` (replacing one of that name);
        returns it, so this works as a decorator's body."""
        self._check(name, impl, source="register()")
        with self._lock:
            self._items[name] = impl
        return impl

    def lookup(self, name: str) -> T:
        """The implementation called ``name``, or the ``unknown`` error naming the known."""
        self._load_entry_points()
        try:
            return self._items[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name from a YAML file
            raise self._unknown(name, self.names()) from None

    def names(self) -> tuple[str, ...]:
        """Every name known: the built-ins first, then those registered or installed."""
        self._load_entry_points()
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return isinstance(name, str) and name in self._items

    def _check(self, name: object, impl: object, *, source: str) -> None:
        if not isinstance(name, str) or not name or name != name.strip() or "/" in name:
            raise ValueError(f"{source}: {self.kind} name {name!r} must be non-empty text "
                             "without '/' or surrounding spaces")
        if not isinstance(impl, self._protocol):
            raise TypeError(f"{source}: {self.kind} {name!r} is a {type(impl).__name__}, "
                            f"which does not follow {self._protocol.__qualname__} (see "
                            f"{self._protocol.__module__})")
        if self._validate is not None:
            self._validate(name, impl)

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._loaded:
                return
            from importlib.metadata import entry_points

            try:
                found = list(entry_points(group=self.group))
            except Exception as exc:  # broken metadata of some installed package
                warnings.warn(f"nbmlops: could not read the {self.group!r} entry points "
                              f"({exc}); only the built-in {self.kind}s are available",
                              RuntimeWarning, stacklevel=3)
                found = []
            for ep in found:
                if ep.name in self._items:
                    continue  # a built-in or registered one is kept
                try:
                    impl = ep.load()
                    self._check(ep.name, impl, source=f"entry point {ep.value}")
                except Exception as exc:
                    warnings.warn(f"nbmlops: the {self.kind} plugin {ep.name!r} ({ep.value}, "
                                  f"entry point group {self.group!r}) could not be loaded "
                                  f"and is left out: {type(exc).__name__}: {exc}",
                                  RuntimeWarning, stacklevel=3)
                    continue
                self._items[ep.name] = impl
            self._loaded = True


class NameView(Sequence[str]):
    """Names read only when the view is used: an argparse ``choices`` built at import
    time imports no plugin and reads no entry point until a command line is checked."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._names = names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(self._names())[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._names()))

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


__all__ = ["NameView", "Plugins"]
