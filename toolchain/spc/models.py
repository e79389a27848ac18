"""Load, build and save keyword-spotting models; run them piece by piece (front, stack, head).

``SpeechClassifier`` wraps a transformers ``*ForSequenceClassification`` model (or
``WhisperForAudioClassification``) with its family adapter and audio front end, so that every
part of spc sees the same thing: raw audio (B x S) in, logits (B x C) out.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .errors import SpcError
from .net import reachable
from .families import FamilyAdapter, get_adapter, supported_model_types
from .presets import PRESETS, preset_config

META_FILE = "spc.json"
STUDENT_FILE = "student.safetensors"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


@dataclass
class ModelMeta:
    """What spc needs besides the transformers config: how audio is fed to the model."""

    family: str
    sampling_rate: int = 16000
    clip_seconds: float = 1.0
    normalize: bool = True
    source: str = ""
    provenance: dict = field(default_factory=dict)
    mimic: dict | None = None  # the mimic design, for distilled students

    @property
    def clip_samples(self) -> int:
        return int(round(self.sampling_rate * self.clip_seconds))


class SpeechClassifier(nn.Module):
    """Raw audio in, logits out; the transformers model is run through its family adapter."""

    def __init__(self, hf: nn.Module, adapter: FamilyAdapter, meta: ModelMeta):
        super().__init__()
        self.hf = hf
        self.adapter = adapter
        self.meta = meta
        self.preprocessor = adapter.make_preprocessor(hf, meta.normalize)

    @property
    def labels(self) -> list[str]:
        """Class names in logit order, from the config's ``id2label``."""
        id2label = self.hf.config.id2label
        return [str(id2label[i]) for i in range(len(id2label))]

    @property
    def layers(self) -> nn.ModuleList:
        return self.adapter.layers(self.hf)

    def parts(self):
        """The modules of each part (feature encoder, stack, head), for parameter accounting."""
        return self.adapter.parts(self.hf)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def stack_input(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio (B x S) -> h_0, the input of the first transformer layer (B x T x D)."""
        return self.adapter.front(self.hf, self.preprocessor(audio))

    def run_stack(self, h0: torch.Tensor, layers: Sequence[nn.Module] | None = None) -> list[torch.Tensor]:
        """h_0 -> [h_0, h_1, ..., h_L]: each layer's raw output (see ``families.base`` for indices)."""
        hiddens = [h0]
        state = self.adapter.initial_state(self.hf, h0)
        for layer in self.layers if layers is None else layers:
            hiddens.append(self.adapter.run_layer(layer, hiddens[-1], state))
        return hiddens

    def logits_from_hidden(self, hiddens: Sequence[torch.Tensor], keep: Sequence[int] | None = None) -> torch.Tensor:
        """Hidden states of the stack -> logits (final LayerNorm / weighted sum, pooling, classifier);
        ``keep``: the layers that produced them, when only some ran (pruning candidates)."""
        return self.adapter.head(self.hf, self.adapter.finish(self.hf, hiddens, keep))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # B x S -> B x C
        return self.logits_from_hidden(self.run_stack(self.stack_input(audio)))

    def hidden_states(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """All hidden states h_0..h_L for a batch of audio (B x S)."""
        return self.run_stack(self.stack_input(audio))


# ---------------------------------------------------------------------------- loading
def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    return reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout)


def _read_config(source: str):
    """(config, where the weights are or None, local folder or None) for any accepted source."""
    from transformers import AutoConfig

    path = Path(source)
    if source.startswith("preset:") or source in PRESETS:
        return preset_config(source.removeprefix("preset:")), None, None
    if path.is_file() and path.suffix == ".json":
        try:
            return AutoConfig.from_pretrained(str(path)), None, None
        except (OSError, ValueError) as exc:
            raise SpcError(f"cannot read model config {path}: {exc}") from None
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SpcError(f"{path} is not a model folder: it has no config.json")
        try:
            config = AutoConfig.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise SpcError(f"cannot read {path / 'config.json'}: {exc}") from None
        has_weights = any((path / f).is_file() for f in WEIGHT_FILES)
        return config, (str(path) if has_weights else None), path
    if path.exists() or source.startswith((".", "/")) or source.count("/") > 1:
        raise SpcError(f"model '{source}' is neither a model folder, a config .json nor a hub id")
    # a hub id: try the local cache first, then the hub, failing fast when it cannot be reached
    try:
        return AutoConfig.from_pretrained(source, local_files_only=True), source, None
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise SpcError(
            f"cannot reach the Hugging Face hub to fetch '{source}'; download it where there is "
            "network and pass the local folder instead"
        )
    try:
        return AutoConfig.from_pretrained(source), source, None
    except (OSError, ValueError) as exc:
        raise SpcError(f"cannot load '{source}' from the hub: {str(exc).splitlines()[0]}") from None


def _read_meta(folder: Path | None, family: str, clip_seconds: float | None) -> ModelMeta:
    meta = ModelMeta(family=family)
    if folder is not None and (folder / META_FILE).is_file():
        saved = json.loads((folder / META_FILE).read_text())
        for key in ("sampling_rate", "clip_seconds", "normalize", "source", "provenance", "mimic"):
            if key in saved:
                setattr(meta, key, saved[key])
    elif folder is not None and (folder / "preprocessor_config.json").is_file():
        pre = json.loads((folder / "preprocessor_config.json").read_text())
        meta.normalize = bool(pre.get("do_normalize", meta.normalize))
        meta.sampling_rate = int(pre.get("sampling_rate", meta.sampling_rate))
    if clip_seconds is not None:
        meta.clip_seconds = clip_seconds
    return meta


def load_model(
    source: str | Path,
    *,
    labels: Sequence[str] | None = None,
    clip_seconds: float | None = None,
    seed: int = 0,
) -> SpeechClassifier:
    """Load a classifier from a local folder, a hub id, a config .json or a preset name.

    ``labels`` sets the classes (the head is re-initialised where they differ from the
    checkpoint's); a folder or config without weights gives a randomly initialised model
    (seeded by ``seed``), for training from scratch.
    """
    import transformers

    source = str(source)
    config, weights, folder = _read_config(source)
    adapter = get_adapter(config.model_type)
    meta = _read_meta(folder, config.model_type, clip_seconds)
    meta.source = meta.source or source
    new_labels = labels is not None and [str(x) for x in labels] != [
        str(config.id2label[i]) for i in range(len(config.id2label))
    ]
    if labels is not None:
        config.num_labels = len(labels)
        config.id2label = {i: str(name) for i, name in enumerate(labels)}
        config.label2id = {str(name): i for i, name in enumerate(labels)}
    cls = getattr(transformers, adapter.hf_class)
    torch.manual_seed(seed)
    if meta.mimic is not None:
        return _load_student(config, adapter, meta, folder)
    if weights is None:
        hf = cls(config)
    else:
        try:
            hf = cls.from_pretrained(weights, config=config, ignore_mismatched_sizes=new_labels)
        except (OSError, ValueError, RuntimeError) as exc:
            raise SpcError(f"cannot load weights of '{source}': {str(exc).splitlines()[0]}") from None
    hf.eval()
    adapter.prepare_loaded(hf, meta.clip_seconds)
    return SpeechClassifier(hf, adapter, meta)


def _load_student(config, adapter, meta: ModelMeta, folder: Path | None):
    """A mimic student: the shell is rebuilt from its config and every weight read from one file."""
    import transformers
    from safetensors.torch import load_file

    from .distill.mimic import MimicConfig, MimicStudent, make_shell

    if folder is None or not (folder / STUDENT_FILE).is_file():
        raise SpcError(f"{folder} is a mimic student but has no {STUDENT_FILE}")
    shell = make_shell(getattr(transformers, adapter.hf_class)(config), adapter)
    adapter.prepare_loaded(shell, meta.clip_seconds)
    student = MimicStudent(shell, adapter, meta, MimicConfig(**meta.mimic))
    student.load_state_dict(load_file(str(folder / STUDENT_FILE)))
    return student.eval()


def save_model(model: SpeechClassifier, out_dir: str | Path, provenance: dict | None = None) -> Path:
    """Write a normal transformers checkpoint folder (plus ``spc.json``); other files there are kept.

    Files are written to a temporary folder first and moved in one by one, so an interrupted save
    never leaves a half-written weight file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".save.", dir=out))
    try:
        student = getattr(model, "mimic", None) is not None
        if student:  # config only: the shell lacks modules transformers would re-create
            model.hf.config.save_pretrained(tmp)
        else:
            model.hf.save_pretrained(tmp)
        model.adapter.default_feature_extractor(
            model.meta.sampling_rate, model.meta.normalize, model.meta.clip_seconds
        ).save_pretrained(tmp)
        meta = asdict(model.meta)
        if provenance is not None:
            meta["provenance"] = provenance
        if student:
            from safetensors.torch import save_file

            meta["mimic"] = asdict(model.mimic_cfg)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / STUDENT_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        for f in tmp.iterdir():
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def build_model(config, labels: Sequence[str], *, seed: int = 0, clip_seconds: float = 1.0) -> SpeechClassifier:
    """A randomly initialised classifier from a transformers config (tests and from-scratch training)."""
    import transformers

    adapter = get_adapter(config.model_type)
    config.num_labels = len(labels)
    config.id2label = {i: str(n) for i, n in enumerate(labels)}
    config.label2id = {str(n): i for i, n in enumerate(labels)}
    torch.manual_seed(seed)
    hf = getattr(transformers, adapter.hf_class)(config).eval()
    adapter.prepare_loaded(hf, clip_seconds)
    return SpeechClassifier(hf, adapter, ModelMeta(family=config.model_type, clip_seconds=clip_seconds))


__all__ = [
    "ModelMeta", "SpeechClassifier", "load_model", "save_model", "build_model", "supported_model_types",
]
