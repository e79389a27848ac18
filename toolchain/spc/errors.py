"""Two exception types: ``SpcError`` for mistakes a user can fix, ``SpcInternalError`` for spc's own bugs.

The CLI shows an ``SpcError`` as one red line with exit code 1 and no traceback; anything else,
``SpcInternalError`` included, keeps its traceback, because it is a bug to report.
"""


class SpcError(Exception):
    """A user error (bad input, missing data, unsupported model): shown as one line, exit code 1."""


class SpcInternalError(Exception):
    """spc found its own inconsistency (a broken invariant, not bad input): shown with its traceback."""
