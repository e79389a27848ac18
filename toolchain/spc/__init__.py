"""spc: compress fine-tuned speech transformers for keyword spotting on the edge.

The Python API lives in submodules (``spc.models``, ``spc.data``, ``spc.training.loop``, ``spc.accuracy``,
``spc.analysis``, ``spc.prune``); the ``spc`` command is a thin layer over them.
"""

__version__ = "0.1.0"
