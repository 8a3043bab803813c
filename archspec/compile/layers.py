"""The custom Keras layers compiled models use (importing this imports Keras). They are defined next to
their ops, in :mod:`archspec.ops.keras_layers`; this module re-exports them, so code that imported them
from here keeps working."""
from __future__ import annotations

from ..ops.keras_layers import *  # noqa: F401,F403
from ..ops.keras_layers import __all__  # noqa: F401
