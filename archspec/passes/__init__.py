"""Passes over the typed graph: analyze (costs), design (warnings), training (training-time estimates).
Shapes are inferred during expansion; :meth:`archspec.graph.Graph.lint` infers them again for tests."""
