"""Every fixed message the command line prints, in one package: Albanian first, English beside.

Each module here holds the texts of one part of the command line as
``TEXTS = {"key": ("shqip", "English")}``. ``t("key", **values)`` renders one in the
operator's language: ``APPLIANCE_LANG=sq`` or ``en`` (default ``en``: branch IT reads
logs and manuals in English; set ``sq`` for Albanian).
SMS texts for customers are not here: they are in ``appliance.core.texts``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache


@cache
def _all_texts() -> dict[str, tuple[str, str]]:
    merged: dict[str, tuple[str, str]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        texts: dict[str, tuple[str, str]] = getattr(module, "TEXTS", {})
        for key, pair in texts.items():
            if key in merged:
                raise RuntimeError(f"CLI text key {key!r} defined twice")
            merged[key] = pair
    return merged


def language() -> str:
    """The operator's language for CLI output: ``sq`` or ``en``."""
    lang = os.environ.get("APPLIANCE_LANG", "en").strip().lower()
    return "sq" if lang.startswith("sq") else "en"


def t(key: str, **values: object) -> str:
    """Render the CLI text ``key`` in the operator's language."""
    sq, en = _all_texts()[key]
    return (sq if language() == "sq" else en).format(**values)
