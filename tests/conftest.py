"""Shared fixtures: tiny random models of every family, small audio data made on the fly.

Importable without torch or transformers: the device install (``pip install 'spc[device]'``) runs the tests
marked ``device`` (``pytest -m device``), and there every other test module is left uncollected.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

TRAINING_INSTALLED = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def pytest_ignore_collect(collection_path, config):
    """In the torch-free device install, collect only the test modules marked ``device``."""
    if TRAINING_INSTALLED or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return "pytest.mark.device" not in collection_path.read_text(encoding="utf-8")


FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"

_W2V = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
    conv_dim=(16,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
)
_WHISPER = dict(d_model=32, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
                decoder_attention_heads=2, num_mel_bins=80, max_source_positions=1500, classifier_proj_size=16)


TINY_NAMES = ("data2vec-audio", "hubert", "wav2vec2", "wav2vec2/stable", "wav2vec2/stable-weighted",
              "wav2vec2/weighted", "wavlm", "wavlm/stable", "wavlm/weighted", "whisper", "whisper/weighted")


def tiny_configs() -> dict[str, "transformers.PretrainedConfig"]:
    """One or more tiny configs per family; keys are ``model_type[/variant]`` (``TINY_NAMES``)."""
    import transformers

    d2v = {k: v for k, v in _W2V.items() if k != "num_conv_pos_embeddings"}
    return {
        "wav2vec2": transformers.Wav2Vec2Config(**_W2V),
        "wav2vec2/stable": transformers.Wav2Vec2Config(**_W2V, do_stable_layer_norm=True, feat_extract_norm="layer"),
        "wav2vec2/weighted": transformers.Wav2Vec2Config(**_W2V, use_weighted_layer_sum=True),
        "wav2vec2/stable-weighted": transformers.Wav2Vec2Config(
            **_W2V, do_stable_layer_norm=True, feat_extract_norm="layer", use_weighted_layer_sum=True),
        "hubert": transformers.HubertConfig(**_W2V),
        "data2vec-audio": transformers.Data2VecAudioConfig(**d2v, num_conv_pos_embeddings=3, conv_pos_kernel_size=3),
        "wavlm": transformers.WavLMConfig(**_W2V),
        "wavlm/weighted": transformers.WavLMConfig(**_W2V, use_weighted_layer_sum=True),
        "wavlm/stable": transformers.WavLMConfig(**_W2V, do_stable_layer_norm=True, feat_extract_norm="layer"),
        "whisper": transformers.WhisperConfig(**_WHISPER),
        "whisper/weighted": transformers.WhisperConfig(**_WHISPER, use_weighted_layer_sum=True),
    }


@pytest.fixture(params=TINY_NAMES)
def family_config(request):
    """Each tiny config in turn (a fresh copy)."""
    return request.param, tiny_configs()[request.param]


def write_wav(path: Path, x: np.ndarray, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, rate, subtype="PCM_16" if x.dtype != np.float64 else "FLOAT")
    return path


def tone(freq: float, seconds: float = 1.0, rate: int = 16000, amp: float = 0.5, rng=None) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    if rng is not None:
        x = x + 0.05 * rng.standard_normal(len(t))
    return x.astype(np.float32)


@pytest.fixture
def tone_dataset(tmp_path) -> Path:
    """A separable 3-class data set in the folders layout: tones at 300, 900 and 2500 Hz with noise."""
    rng = np.random.default_rng(0)
    root = tmp_path / "tones"
    for split, n in (("train", 24), ("validation", 6), ("test", 6)):
        for label, freq in (("low", 300), ("mid", 900), ("high", 2500)):
            for k in range(n):
                f = freq * rng.uniform(0.9, 1.1)
                write_wav(root / split / label / f"{label}_{k}.wav", tone(f, rng.uniform(0.5, 1.0), rng=rng))
    return root


WHISPER = Path(__file__).resolve().parents[2] / "shared" / "models" / "whisper-tiny.en-encoder"


def require_shared(path: Path, what: str) -> Path:
    """``path`` (real data or weights in ../shared); a skip with the reason where it is absent, a failure instead
    where ``SPC_REQUIRE_SHARED`` is set (CI: a clone without ../shared must not pass having run none of them)."""
    if not path.exists():
        import os

        why = f"{what} not found at {path} (see the README beside it in ../shared)"
        if os.environ.get("SPC_REQUIRE_SHARED"):
            pytest.fail(f"{why}; SPC_REQUIRE_SHARED is set, so this fails instead of skipping")
        pytest.skip(why)
    return path


def require_fsdd() -> Path:
    require_shared(FSDD / "recordings", "FSDD recordings")
    return FSDD


def require_whisper() -> Path:
    require_shared(WHISPER / "model.safetensors", "the pre-trained Whisper tiny.en encoder")
    return WHISPER


# --- the benchmark-script tests: a throwaway git repository laid out as benchmarks/records.py expects
def git(repo: Path, *args: str) -> None:
    """Run git in ``repo`` with a fixed identity (no user config needed)."""
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def git_in() -> Callable[..., None]:
    """``git_in(repo, *args)``: git in a fixture repo (for the commits a test adds)."""
    return git


@pytest.fixture
def records_repo(tmp_path: Path) -> Callable[[dict], Path]:
    """``make(entries)``: a git repo with one script, one measured module and one committed result ``r.json``,
    ``entries`` as its measures.json, all in one commit."""

    def make(entries: dict) -> Path:
        repo = tmp_path / "repo"
        (repo / "benchmarks" / "results").mkdir(parents=True)
        (repo / "toolchain").mkdir()
        (repo / "benchmarks" / "bench.py").write_text("print(1)\n")
        (repo / "toolchain" / "measured.py").write_text("x = 1\n")
        (repo / "benchmarks" / "results" / "r.json").write_text("{}")
        (repo / "benchmarks" / "results" / "measures.json").write_text(json.dumps({"results": entries}))
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "code and result")
        return repo

    return make
