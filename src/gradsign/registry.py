"""One registry helper for everything registered by decorator (proxies, spaces, predictors, model sources).

Each kind of plug-in has a :class:`Registry`: its decorator calls :meth:`Registry.add`,
its look-up calls :meth:`Registry.get`. The registry imports the modules of its own
package once, on first look-up (:func:`gradsign.plugins.import_submodules`), so adding a
built-in means adding a file; a user's own registrations are added when their module is
imported (``gradsign --plugin``). The rules are the same everywhere: a name registered
twice by different objects is a bug (RuntimeError at import time), an unknown name is a
one-line :class:`~gradsign.errors.ConfigError` listing what exists, and aliases resolve
through the registry's ``normalise`` function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from gradsign.errors import ConfigError

T = TypeVar("T")


def _identity(value: object) -> object:
    return value


def _exact(name: str) -> str:
    return name


class Registry(Generic[T]):
    """Named objects of one kind, filled by decorators, with aliases and lazy discovery.

    Args:
        kind: what is registered, for messages (``"proxy"``, ``"search space"``).
        package: the package whose modules register built-ins; imported on first look-up.
        skip, skip_if: modules of ``package`` not to import (helpers that register nothing).
        normalise: how names and aliases are compared (default: exactly).
        same: what makes two registrations of one name the same, compared with ``==`` (default:
            the object itself; e.g. the function behind a proxy spec, or a class's
            ``(__module__, __qualname__)`` so that a module imported twice is not a clash).
    """

    def __init__(self, kind: str, *, package: str | None = None, skip: Iterable[str] = (),
                 skip_if: Callable[[str], bool] | None = None, normalise: Callable[[str], str] = _exact,
                 same: Callable[[T], object] = _identity) -> None:
        self.kind = kind
        self._package, self._skip, self._skip_if = package, tuple(skip), skip_if
        self._normalise, self._same = normalise, same
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = package is None

    # ------------------------------------------------------------------ filling

    def add(self, name: str, value: T, *, aliases: Iterable[str] = ()) -> T:
        """Register ``value`` as ``name`` (and its aliases); the same object again is a no-op."""
        if not self._discovered and not self._is_builtin(value):
            # A user's registration: the built-ins first, so that taking one of their names fails here,
            # while the user's module is imported (one line from `--plugin`), not at some later look-up.
            self.discover()
        old = self._entries.get(name)
        if old is not None and self._same(old) != self._same(value):
            if self._is_builtin(old) and not self._is_builtin(value):
                raise RuntimeError(f"{self.kind} name {name!r} is taken by gradsign's own ({_where(old)}); "
                                   f"register {_where(value)} under another name")
            same_qualname = _qualname(old) is not None and _qualname(old) == _qualname(value)
            hint = " (the same plug-in loaded twice, e.g. as a file and as a module name?)" if same_qualname else ""
            raise RuntimeError(f"{self.kind} {name!r} registered twice ({_where(old)}, {_where(value)}){hint}")
        self._entries[name] = value
        for key in (name, *aliases):
            self._aliases[self._normalise(key)] = name
        return value

    def _is_builtin(self, value: object) -> bool:
        """Whether ``value`` comes from this registry's own package (true for everything without a package)."""
        if self._package is None:
            return True
        module = getattr(getattr(value, "fn", value), "__module__", None) or ""
        return module == self._package or module.startswith(self._package + ".")

    def pop(self, name: str, default: T | None = None) -> T | None:
        """Remove ``name`` and its aliases (for tests that register throw-away entries)."""
        for key in [k for k, v in self._aliases.items() if v == name]:
            del self._aliases[key]
        return self._entries.pop(name, default)

    def discover(self) -> None:
        """Import the package's modules once; they register themselves."""
        if self._discovered:
            return
        from gradsign.plugins import import_submodules

        self._discovered = True  # set first: a module that looks itself up while importing must not recurse
        try:
            import_submodules(self._package, skip=self._skip, skip_if=self._skip_if)
        except BaseException:
            self._discovered = False
            raise

    # ------------------------------------------------------------------ looking up

    def resolve(self, name: str) -> str | None:
        """The registered name of ``name`` or one of its aliases, or None."""
        if not isinstance(name, str):
            return None
        self.discover()
        return self._aliases.get(self._normalise(name))

    def find(self, name: str) -> T | None:
        """The entry of ``name`` (or an alias), or None."""
        key = self.resolve(name)
        return None if key is None else self._entries[key]

    def get(self, name: str) -> T:
        """The entry of ``name`` (or an alias); ConfigError listing the registered names if unknown."""
        value = self.find(name)
        if value is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return value

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.discover()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs sorted by name."""
        return [(n, self._entries[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"


def _qualname(value: object) -> str | None:
    """The qualified name of a registered object (a proxy spec's function), if it has one."""
    return getattr(getattr(value, "fn", value), "__qualname__", None)


def _where(value: object) -> str:
    """How a registered object is named in a double-registration error."""
    module = getattr(getattr(value, "fn", value), "__module__", None)
    qualname = _qualname(value)
    return f"{module}.{qualname}" if module and qualname else repr(value)


__all__ = ["Registry"]
