"""Griffe extensions for the API reference (loaded by mkdocs.yml).

``RuntimeDocstrings``: griffe reads the source without importing it, so a docstring
that the package fills in when imported (``MLPDOSRegressor.__doc__ =
MLPDOSRegressor.__doc__.format(shared=...)`` in ``dos_estimators/estimators/baselines.py``)
would reach the site with its raw ``{shared}`` placeholder. For an object whose
docstring has a line that is only such a placeholder, the extension imports the object
and uses its runtime ``__doc__``.

``SphinxRoles``: the docstrings are numpydoc, whose cross-references are Sphinx roles
(``:class:`~dos_estimators.DOSTransformerRegressor```, ``:math:`C_V```), which Markdown
would print as they are. The extension turns each into inline code
(``DOSTransformerRegressor``, ``C_V``), as Sphinx shows them, and drops the double
backquotes of literals in a parameter's type (``y_true : array-like of the shape of
``y_pred```` shows its type as ``array-like of the shape of y_pred``), where the site
prints types verbatim.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

_PLACEHOLDER = re.compile(r"^\s*\{\w+\}\s*$", re.M)
# :role:`text`, :py:role:`text`, :role:`~a.b.c` (shown as c), :role:`title <target>`.
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|const|mod|obj|exc|math):`([^`]+)`")
# A numpydoc "name : type" line (also "x, y : type" and "*args : type").
_TYPE_LINE = re.compile(r"^(\s*\**\w+(?:\s*,\s*\**\w+)*\s+:\s+)(.*``.*)$", re.M)


def _role_text(match: re.Match) -> str:
    text = match.group(1)
    titled = re.fullmatch(r"(.+?)\s*<[^<>]+>", text)
    if titled:
        text = titled.group(1)
    elif text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return f"`{text}`"


class RuntimeDocstrings(griffe.Extension):
    """Replace a docstring holding a ``{name}`` placeholder line by the runtime one."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None or not _PLACEHOLDER.search(obj.docstring.value):
            return
        runtime: Any = importlib.import_module(obj.module.path)
        if obj.path != obj.module.path:
            for name in obj.path[len(obj.module.path) + 1 :].split("."):
                runtime = getattr(runtime, name)
        doc = inspect.getdoc(runtime)
        if not doc or _PLACEHOLDER.search(doc):
            raise ValueError(f"{obj.path}: docstring placeholder not filled at import time")
        obj.docstring.value = doc


def _plain_type(match: re.Match) -> str:
    return match.group(1) + re.sub(r"``(.+?)``", r"\1", match.group(2))


class SphinxRoles(griffe.Extension):
    """Show Sphinx roles in docstrings as inline code, and types without literal quotes."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        value = obj.docstring.value
        if ":`" in value:
            value = _ROLE.sub(_role_text, value)
        if "``" in value:
            value = _TYPE_LINE.sub(_plain_type, value)
        obj.docstring.value = value
