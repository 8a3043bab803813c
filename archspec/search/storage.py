"""Storage URLs for `archspec search --storage`: which SQLAlchemy driver a `postgresql://` URL gets.

SQLAlchemy reads a bare `postgresql://` as psycopg2's; the `archspec[postgres]` extra installs psycopg 3
(`psycopg[binary]`, the maintained driver, with wheels for every platform). A bare URL is given the
driver that is installed — psycopg2 when it is, else psycopg 3 — and a URL naming its driver is left as
written. Neither installed: the install line of the extra.

>>> import importlib.util
>>> database_url("sqlite:///x.db")
'sqlite:///x.db'
>>> database_url("postgresql+psycopg2://u@h/db")
'postgresql+psycopg2://u@h/db'
"""
from __future__ import annotations

import importlib.util


def database_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql://{rest}"
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    from ..extras import MissingExtra, install_line

    raise MissingExtra(install_line("postgres"))
