"""Load, save and build ``SpeechClassifier`` models: local folders, hub ids, config files, presets, students.

A saved model is a plain transformers checkpoint folder plus ``spc.json`` (how audio is fed, where
the model came from, what its stack is). A distilled student stores the transformers config and
all its weights in one safetensors file, since transformers cannot rebuild a model without layers.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import re
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError

from ..console import warn
from ..errors import SpcError
from ..families import get_adapter, supported_model_types
from ..fileio import file_mode, first_line, read_json
from ..net import reachable
from .presets import PRESETS, preset_config
from .classifier import SCHEMA_VERSION, ModelMeta, SpeechClassifier
from .mimic import MimicConfig, MimicStack

META_FILE = "spc.json"
STUDENT_FILE = "student.safetensors"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
UNFINISHED = {".spc-train": "fine-tuning", ".spc-distill": "distillation"}  # work folders of interrupted runs
META_KEYS = ("sampling_rate", "clip_seconds", "normalize", "source", "provenance", "stack")


# ---------------------------------------------------------------------------- loading
def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    return reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout)


def refuse_custom_code(config_json: Path) -> None:
    """One user error, before transformers reads it, for a config that asks for the folder's own Python code
    (``auto_map``) or names a model type spc does not support: spc never runs a model's code (no prompt)."""
    raw = read_json(config_json, "model config")
    if "auto_map" in raw:
        raise SpcError(f"{config_json} asks to run the model folder's own Python code (auto_map); spc never runs a "
                       f"model's custom code: use a model of a supported family ({', '.join(supported_model_types())})")
    get_adapter(str(raw.get("model_type")))  # an unknown type: one line, before transformers could prompt


def _read_config(source: str):
    """(config, where the weights are or None, local folder or None) for any accepted source."""
    from transformers import AutoConfig

    path = Path(source)
    if source.startswith("preset:") or source in PRESETS:
        return preset_config(source.removeprefix("preset:")), None, None
    if path.is_file() and path.suffix == ".json":
        refuse_custom_code(path)
        try:
            return AutoConfig.from_pretrained(str(path), trust_remote_code=False), None, None
        except (OSError, ValueError) as exc:
            raise SpcError(f"cannot read model config {path}: {first_line(exc)}") from None
    if path.is_dir():
        if not (path / "config.json").is_file():
            unfinished = sorted(p.name for p in path.glob(".spc-*") if p.name in UNFINISHED)
            if unfinished:
                raise SpcError(f"{path} holds an unfinished {UNFINISHED[unfinished[0]]} run ({unfinished[0]}); "
                               "run the same command again to finish it")
            raise SpcError(f"{path} is not a model folder: it has no config.json")
        refuse_custom_code(path / "config.json")
        try:
            config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise SpcError(f"cannot read {path / 'config.json'}: {first_line(exc)}") from None
        has_weights = any((path / f).is_file() for f in WEIGHT_FILES)
        return config, (str(path) if has_weights else None), path
    if path.exists() or source.startswith((".", "/")) or source.count("/") > 1:
        raise SpcError(f"model '{source}' is neither a model folder, a config .json nor a hub id")
    if path.parent != Path(".") and path.parent.is_dir():  # 'runs/teacher' beside an existing 'runs/'
        raise SpcError(f"no such model folder: {path} ({path.parent} has no '{path.name}')")
    # a hub id: try the local cache first, then the hub, failing fast when it cannot be reached
    try:
        return AutoConfig.from_pretrained(source, local_files_only=True, trust_remote_code=False), source, None
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise SpcError(
            f"there is no folder '{source}' here, and cannot reach the Hugging Face hub to fetch it as a hub id; "
            "download it where there is network and pass the local folder instead"
        )
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=False), source, None
    except (OSError, ValueError) as exc:
        raise SpcError(f"cannot load '{source}' from the hub: {first_line(exc)}") from None


def _read_meta(folder: Path | None, family: str, clip_seconds: float | None) -> ModelMeta:
    """spc.json where there is one, else the feature extractor's settings, else the defaults."""
    meta = ModelMeta(family=family)
    if folder is not None and (folder / META_FILE).is_file():
        saved = read_json(folder / META_FILE, "model metadata")
        if saved.get("schema_version", 1) > SCHEMA_VERSION:
            raise SpcError(f"{folder / META_FILE} was written by a newer spc (schema {saved['schema_version']})")
        if "mimic" in saved and saved.get("schema_version", 1) < 2:
            raise SpcError(f"{folder} is a student saved by an older spc; distil it again")
        for key in META_KEYS:
            if key in saved:
                setattr(meta, key, saved[key])
    elif folder is not None and (folder / "preprocessor_config.json").is_file():
        pre = read_json(folder / "preprocessor_config.json", "feature extractor settings")
        meta.normalize = bool(pre.get("do_normalize", meta.normalize))
        meta.sampling_rate = int(pre.get("sampling_rate", meta.sampling_rate))
    if clip_seconds is not None:
        meta.clip_seconds = clip_seconds
    return meta


def _set_labels(config, labels: Sequence[str]) -> None:
    config.num_labels = len(labels)
    config.id2label = {i: str(name) for i, name in enumerate(labels)}
    config.label2id = {str(name): i for i, name in enumerate(labels)}


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
    ids = sorted(int(i) for i in config.id2label)
    if ids != list(range(len(ids))):
        raise SpcError(f"'{source}': config.json's id2label must number the classes 0-{len(ids) - 1}, got "
                       f"{', '.join(map(str, ids))}")
    new_labels = labels is not None and [str(x) for x in labels] != [
        str(config.id2label[i]) for i in range(len(config.id2label))
    ]
    if labels is not None:
        _set_labels(config, labels)
    cls = getattr(transformers, adapter.hf_class)
    torch.manual_seed(seed)
    if meta.stack.get("kind") == MimicStack.kind:
        return _load_student(cls(config), adapter, meta, folder)
    if weights is None:
        if folder is not None:  # random weights are meant for a config .json or a preset, not a model folder
            warn(f"{folder} has a config.json but no weights: the model starts from random weights")
        hf = cls(config)
    else:
        hf = _from_pretrained(cls, weights, config, source, new_labels)
    hf.eval()
    adapter.prepare_loaded(hf, meta.clip_seconds)
    return SpeechClassifier(hf, adapter, meta)


#: the classification head's modules in transformers' audio classifiers (absent from a backbone checkpoint)
HEAD_PREFIXES = ("classifier.", "projector.", "layer_weights")


def _from_pretrained(cls, weights: str, config, source: str, new_labels: bool):
    """transformers' loader with its own load report kept out of the terminal; weights that disagree with the
    config (missing, unexpected or mis-shaped tensors) are one user error naming what disagrees. A head absent
    from the checkpoint (a backbone) or re-shaped for new labels is the one allowed case, said in one line."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        hf, info = cls.from_pretrained(weights, config=config, ignore_mismatched_sizes=True, output_loading_info=True,
                                       trust_remote_code=False)
    except pickle.UnpicklingError as exc:  # torch's weights_only loader refuses a pickle that is more than tensors
        raise SpcError(f"refused the weights of '{source}': the pickled file holds more than tensors "
                       f"({first_line(exc)}); spc loads only plain tensors (use model.safetensors)") from None
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise SpcError(f"cannot load weights of '{source}' ({first_line(exc)}); "
                       "the weight file is damaged or truncated: save or download it again") from None
    finally:
        hf_logging.set_verbosity(level)
    check_loading(info, source, new_labels, set(hf.state_dict()))
    return hf


def check_loading(info: dict, source: str, new_labels: bool, model_keys: set[str]) -> None:
    """Refuse weights that do not fit the config (``info``: transformers' missing / unexpected / mismatched keys).

    Unexpected tensors count only where they are more layers of the model's own stack (``model_keys``: the
    loaded model's state-dict names): a pre-training checkpoint's quantiser or a Whisper decoder is not used
    by a classifier and is left out as transformers does."""
    def head(key: str) -> bool:
        return key.startswith(HEAD_PREFIXES)

    def layers(keys) -> list[int]:
        return sorted({int(m.group(1)) for k in keys for m in [re.search(r"\.layers\.(\d+)\.", k)] if m})

    missing = sorted(k for k in info.get("missing_keys", []) if not k.endswith("masked_spec_embed"))
    unexpected = sorted(k for k in info.get("unexpected_keys", [])
                        if re.sub(r"\.layers\.\d+\.", ".layers.0.", k, count=1) in model_keys)
    mismatched = [m for m in info.get("mismatched_keys", []) if not (new_labels and head(m[0]))]
    body_missing = [k for k in missing if not head(k)]
    where = f"'{source}': config.json disagrees with the weights"
    if mismatched:
        key, ckpt, model = mismatched[0]
        field = "num_labels / id2label" if head(key) else "hidden_size or another size"
        raise SpcError(f"{where}: {key} is {tuple(ckpt)} in the weights but {tuple(model)} by the config "
                       f"(check {field}; {len(mismatched)} tensors differ)")
    if body_missing:
        extra = layers(body_missing)
        what = (f"layers {', '.join(map(str, extra))} that the weights do not have (check num_hidden_layers / "
                "encoder_layers)" if extra else f"{body_missing[0]} and {len(body_missing) - 1} more tensors")
        raise SpcError(f"{where}: the config asks for {what}")
    if unexpected:
        extra = layers(unexpected)
        what = (f"layers {', '.join(map(str, extra))} that the config does not have (check num_hidden_layers / "
                "encoder_layers)" if extra else f"{unexpected[0]} and {len(unexpected) - 1} more tensors")
        raise SpcError(f"{where}: the weights hold {what}")
    if missing and not new_labels:
        warn(f"'{source}' has no classification head (a backbone checkpoint): the head starts from random weights")


def _load_student(hf, adapter, meta: ModelMeta, folder: Path | None) -> SpeechClassifier:
    """A mimic student: the shell is rebuilt from its config and every weight read from one file."""
    from safetensors.torch import load_file

    if folder is None or not (folder / STUDENT_FILE).is_file():
        raise SpcError(f"{folder} is a mimic student but has no {STUDENT_FILE}")
    adapter.make_shell(hf)
    adapter.prepare_loaded(hf, meta.clip_seconds)
    student = SpeechClassifier(hf, adapter, meta, MimicStack(MimicConfig(**meta.stack["config"]), adapter.hidden_size(hf)))
    try:
        student.load_state_dict(load_file(str(folder / STUDENT_FILE)))
    except (OSError, RuntimeError, SafetensorError) as exc:
        raise SpcError(f"cannot load {folder / STUDENT_FILE} ({first_line(exc)}); "
                       "the weight file is damaged or truncated: distil the student again") from None
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
        student = model.stack.kind == MimicStack.kind
        if student:  # config only: the shell lacks modules transformers would re-create
            from safetensors.torch import save_file

            model.hf.config.save_pretrained(tmp)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / STUDENT_FILE))
        else:
            model.hf.save_pretrained(tmp)
        model.adapter.default_feature_extractor(
            model.meta.sampling_rate, model.meta.normalize, model.meta.clip_seconds
        ).save_pretrained(tmp)
        meta = {"schema_version": SCHEMA_VERSION, **asdict(model.meta), "stack": model.stack.spec()}
        if provenance is not None:
            meta["provenance"] = provenance
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        mode = file_mode()  # safetensors writes 0600 whatever the umask: the weights get what every other file gets
        for f in tmp.iterdir():
            f.chmod(mode)
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def weights_hash(model) -> str:
    """The sha256 of a model's weights (names, shapes, dtypes and bytes): what its results depend on."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def build_model(config, labels: Sequence[str], *, seed: int = 0, clip_seconds: float = 1.0) -> SpeechClassifier:
    """A randomly initialised classifier from a transformers config (tests and from-scratch training)."""
    import transformers

    adapter = get_adapter(config.model_type)
    _set_labels(config, labels)
    torch.manual_seed(seed)
    hf = getattr(transformers, adapter.hf_class)(config).eval()
    adapter.prepare_loaded(hf, clip_seconds)
    return SpeechClassifier(hf, adapter, ModelMeta(family=config.model_type, clip_seconds=clip_seconds))


def build_student(teacher: SpeechClassifier, cfg: MimicConfig, seed: int = 0) -> SpeechClassifier:
    """The teacher's front and head (copied) around a mimic stack: one teacher layer (kind ``layer``),
    or fresh blocks (seeded)."""
    cfg.check_teacher(teacher.width, teacher.num_layers)
    if cfg.kind == "tiny":
        return build_tiny(teacher, cfg, seed)
    hf = copy.deepcopy(teacher.hf)
    meta = copy.deepcopy(teacher.meta)
    meta.provenance = {"recipe": "distill", "teacher": teacher.meta.source, "mimic": asdict(cfg)}
    if cfg.kind == "layer":
        teacher.adapter.keep_layers(hf, [cfg.init_layer])
        return SpeechClassifier(hf, teacher.adapter, meta)
    teacher.adapter.make_shell(hf)
    torch.manual_seed(seed)
    return SpeechClassifier(hf, teacher.adapter, meta, MimicStack(cfg, teacher.width))


def build_tiny(teacher: SpeechClassifier, cfg: MimicConfig, seed: int = 0) -> SpeechClassifier:
    """A tiny student with its own front end (``MimicConfig`` kind ``tiny``): a Whisper-architecture encoder
    (log-mel in the graph, two convolutions, fixed positions, ``n_layers`` blocks ``width`` wide) and head, for
    the teacher's classes and clip length; seeded. A normal transformers checkpoint once saved."""
    from transformers import WhisperConfig

    if teacher.meta.sampling_rate != 16000:
        raise SpcError(f"a tiny student reads 16 kHz audio (its log-mel front end); the teacher reads "
                       f"{teacher.meta.sampling_rate} Hz")
    width = cfg.width_of(teacher.width)
    config = WhisperConfig(num_mel_bins=cfg.mel_bins, d_model=width, encoder_layers=cfg.n_layers,
                           encoder_attention_heads=cfg.heads, encoder_ffn_dim=cfg.ffn_size, decoder_layers=1,
                           decoder_attention_heads=cfg.heads, decoder_ffn_dim=width, max_source_positions=1500,
                           classifier_proj_size=min(64, width), dropout=cfg.dropout, attention_dropout=0.0,
                           activation_dropout=0.0, encoder_layerdrop=0.0, mask_time_prob=0.0)
    config.spc_n_fft = cfg.n_fft  # read by the Whisper adapter's log-mel front end; saved in config.json
    student = build_model(config, teacher.labels, seed=seed, clip_seconds=teacher.meta.clip_seconds)
    student.meta.provenance = {"recipe": "distill", "teacher": teacher.meta.source, "mimic": asdict(cfg)}
    return student


__all__ = ["META_FILE", "read_json", "load_model", "save_model", "build_model", "build_student", "build_tiny", "weights_hash",
           "supported_model_types"]
