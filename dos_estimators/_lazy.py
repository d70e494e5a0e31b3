"""Public names of a package imported on first use (PEP 562), not when the package is.

``import dos_estimators`` then costs almost nothing, and a heavy or broken dependency
(optuna, e3nn, matminer, torch) is imported, or fails, only with the feature that needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping


def attach(
    package: str,
    *,
    submodules: Iterable[str] = (),
    attributes: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package with lazy public names.

    A package's ``__init__.py`` says ``__getattr__, __dir__ = attach(__name__, ...)``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : iterable of str
        Submodules returned as attributes of the package (``dos_estimators.tuning``).
    attributes : mapping of str to str, optional
        Public name to the submodule, relative to ``package`` and without the leading dot,
        that defines it (``{"E3NNDOSRegressor": "estimators"}``).

    Returns
    -------
    __getattr__ : callable
        Imports the submodule of a requested name and returns the name, keeping it in the
        package's namespace so that the next look-up is an ordinary one.
    __dir__ : callable
        The package's namespace and every lazy name.
    """
    submodules = frozenset(submodules)
    attributes = dict(attributes or {})
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name in submodules:
            # Importing a submodule binds it in the package's namespace.
            return importlib.import_module(f"{package}.{name}")
        if name not in attributes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{attributes[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *submodules, *attributes})

    return __getattr__, __dir__
