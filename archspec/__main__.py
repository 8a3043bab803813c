"""`python -m archspec ...` is the same as the `archspec` command."""
from archspec.cli import entry

entry()
