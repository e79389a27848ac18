"""The main job: a fine-tuned checkpoint -> a deployable artifact that keeps the accuracy, with a report.

``run_compress`` (``job.py``) reads top to bottom, one call per stage; the model and the clips are loaded once:
  1. inputs.check_and_load     target, model, data and output folder, before any long work
  2. analyse.analyse         layer similarity on a calibration sample of the validation split
  3-4. job.make_candidates   the candidates the settings ask for, one registered ``Producer`` per kind
                             (``producers/``: pruned depths, the mimic and tiny students), each a ``Candidate``
  5. exporting.export_all    the original and every candidate to ONNX, parity-checked; variant producers
                             (INT8 CPU) derive more from the exports; export_floor: the stackless latency floor
  6. choose.choose           on validation, as classifiers and as detectors (each gets its operating point); those
                             that pass built for the target and timed as built; the fastest that meets the target
  7-8. final.build_and_test  the chosen one's build (and the original's), its test accuracy against the original's
  9. final.stream_test       the original and the chosen artifact as detectors on the test split's streams
 10. reporting.make_report   report.json, report.md and the figures; the artifacts with their manifests
Each stage is kept in ``OUT/work`` under a key made of what it depends on by content (the model's weights, the
data's files, the settings), so a re-run skips what is done and a model retrained in place is compressed anew.
Where the target is a GPU this machine cannot build for, stage 7 is left to the device: the run ends with the
commands to run there. Names are imported on first use, so ``candidate`` (torch-free) loads without the rest.
"""

from __future__ import annotations

import importlib

_WHERE = {"CompressConfig": "settings", "METHODS": "settings", "PRUNE_ORDERS": "settings", "REPORT": "settings",
          "run_compress": "job", "Run": "inputs", "Inputs": "inputs", "build_stage": "choose", "Candidate": "candidate",
          "Producer": "candidate", "register": "candidate"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
