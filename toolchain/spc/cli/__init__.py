"""The ``spc`` command: a thin Click layer over the Python API (see ``spc --help``).

``group`` holds the group and its error handling, ``options`` the option machinery; each ``*_commands`` module
registers one group of commands on import.
"""

from . import artifact_commands, data_commands, job_commands, model_commands, stream_commands  # noqa: F401 (registers)
from .group import cli, error_line, main, print_lines, training_module, usage_line

__all__ = ["cli", "error_line", "main", "print_lines", "training_module", "usage_line"]
