"""The training stage's own errors: RunError (not a spec mistake) and DataError (the data's)."""
from __future__ import annotations

from ..errors import SpecError


class RunError(Exception):
    """This run cannot go ahead in this folder or with these options (the CLI exits with status 2)."""


class DataError(SpecError):
    """The data cannot be read, or does not fit the spec (exit status 1, like a spec mistake)."""
