"""Optional dependencies, installed as extras: one place that says which extra brings which package, and
the one-line message when it is missing. The core install (check, report, draw, schema, lsp) imports none
of them; a command that needs one asks for it here before doing any work.

>>> EXTRAS["mlflow"]
('mlflow', 'MLflow tracking (--mlflow)')
"""
from __future__ import annotations

import importlib
import importlib.util

# extra name -> (importable module, what it is for)
EXTRAS = {
    "view": ("model_explorer", "Google Model Explorer (archspec view)"),
    "mlflow": ("mlflow", "MLflow tracking (--mlflow)"),
    "postgres": ("psycopg", "PostgreSQL storage for archspec search (--storage postgresql://…)"),
}


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message is the install line."""


def install_line(extra: str) -> str:
    module, purpose = EXTRAS[extra]
    return f"{purpose} needs the '{module}' package, not installed here; install it with: pip install 'archspec[{extra}]'"


def available(extra: str) -> bool:
    return importlib.util.find_spec(EXTRAS[extra][0]) is not None


def require(extra: str):
    """Import and return the extra's module, or raise MissingExtra with the install line."""
    module = EXTRAS[extra][0]
    if not available(extra):
        raise MissingExtra(install_line(extra))
    return importlib.import_module(module)
