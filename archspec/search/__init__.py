"""Architecture search over a spec's search space (docs/search.md).

The space is declared in the spec (lang/space.py); a point is applied like `--set` overrides.
`concrete` writes a point back as a plain spec; the search driver (Optuna) prices each candidate
statically and trains only those within the budgets. Nothing here imports TensorFlow or Optuna at
import time.
"""
