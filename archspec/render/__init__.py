"""Renderers: tables (terminal, Markdown, CSV, JSON) and diagrams (DOT text, Graphviz images)."""
