"""The package version, in a leaf module so that any layer may print it (`archspec --version`, the
importer's header line, the language server) without importing the package's facade."""

__version__ = "0.1.0"
