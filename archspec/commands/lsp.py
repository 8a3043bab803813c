"""archspec lsp: a language server for spec files over stdio (diagnostics, hover, go to definition,
completion, quick fixes). Editors start it themselves; see docs/editor.md."""
from __future__ import annotations


def configure(p):
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default; accepted for "
                   "editors that pass it)")


def run(args) -> int:
    from .shared import UsageError

    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        raise UsageError("the language server needs pygls and lsprotocol: pip install 'archspec[editor]' "
                         "(or pip install pygls)") from None
    from ..editor.server import main

    main()
    return 0
