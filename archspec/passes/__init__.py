"""Passes over the typed graph: infer (re-check shapes), analyze (costs), design (warnings)."""
