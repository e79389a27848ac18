"""spc's model: ``SpeechClassifier`` (front -> stack -> head) and how it is loaded, saved and built."""

from .classifier import ModelMeta, SpeechClassifier
from .io import (META_FILE, build_model, build_student, load_model, read_json, save_model, supported_model_types,
                 weights_hash)
from .mimic import KINDS as MIMIC_KINDS
from .mimic import MimicConfig, MimicStack
from .parts import Front, Head, TransformerStack

__all__ = [
    "ModelMeta", "SpeechClassifier", "Front", "Head", "TransformerStack", "MimicConfig", "MimicStack", "MIMIC_KINDS",
    "META_FILE", "read_json", "load_model", "save_model", "build_model", "build_student", "supported_model_types", "weights_hash",
]
