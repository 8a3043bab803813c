"""The spec language: reading files safely (source), expressions (expr), the document schema
(schema) and expansion of blocks, branches, residuals and repeats into a graph (expand)."""
