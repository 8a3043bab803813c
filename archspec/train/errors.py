"""The one error of the training stage that is not a spec mistake."""


class RunError(Exception):
    """This run cannot go ahead in this folder or with these options (the CLI exits with status 2)."""
