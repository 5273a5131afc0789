"""Heavy modules imported where they are first used, not where their importer is imported.

`import polars` alone takes 0.4 s, `pyarrow` and `phonenumbers` about 0.1 s each: a one-address
`suppress check` (SPEC 5: under 0.3 s for the whole process) must not pay for them. A module that
needs one only in some of its functions binds it with `pl = lazy("polars")`; the import happens
at the first attribute access (`pl.DataFrame`), once. Annotations stay as they are (they are
strings under `from __future__ import annotations`).
"""
from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """A stand-in for a module, imported on first use."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{'' if self._module is None else ' (imported)'}>"


def lazy(name: str) -> LazyModule:
    return LazyModule(name)
