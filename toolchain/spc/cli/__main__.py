"""``python -m spc.cli``: the same as the ``spc`` command (``torchrun ... -m spc.cli finetune ...``)."""

from .group import main
from . import artifact_commands, data_commands, job_commands, model_commands, stream_commands  # noqa: F401

main()
