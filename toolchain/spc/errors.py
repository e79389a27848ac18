"""One exception type for mistakes a user can fix; the CLI shows it as one line, no traceback."""


class SpcError(Exception):
    """A user error (bad input, missing data, unsupported model): shown as one line, exit code 1."""
