"""The runtime a keyword-spotting app embeds: load an artifact, classify numpy audio. No torch import.

Artifacts: ``model.onnx`` (spc export), ``*.ort.onnx`` (spc build --target cpu) and ``*.engine``
(spc build for a GPU target), each with its JSON manifest beside it (labels, sampling rate, clip
length).

    spotter = KeywordSpotter("model.onnx")
    spotter.classify(clip)                       # [("yes", 0.97), ("no", 0.01), ...]
    for d in spotter.stream(recording, hop_seconds=0.1, threshold=0.8):
        print(d.time_s, d.label, d.score)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import fix_length
from .engines.runner import Runner, open_runner
from .errors import SpcError

NON_KEYWORDS = ("_silence_", "_unknown_")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def load_backend(path: str | Path, threads: int = 0) -> tuple[Runner, dict]:
    """(runner, manifest) for any spc artifact; the runner is callable (audio -> logits) and splits batches
    by the artifact's profile. Kept for existing callers: new code uses ``open_runner`` as a context manager."""
    runner = open_runner(path, threads)
    return runner, runner.manifest


@dataclass(frozen=True)
class Detection:
    """A keyword found in a recording: the window's centre time, the label and its smoothed posterior."""

    time_s: float
    label: str
    score: float


class KeywordSpotter:
    """Classify clips, batches or a stream of audio with an exported model or engine."""

    def __init__(self, artifact: str | Path, threads: int = 0, batch_size: int = 8):
        self.runner = open_runner(artifact, threads)
        self.manifest = self.runner.manifest
        try:
            self.labels: list[str] = [str(x) for x in self.manifest["labels"]]
            self.sampling_rate: int = int(self.manifest["sampling_rate"])
            self.clip_samples = int(round(float(self.manifest["clip_seconds"]) * self.sampling_rate))
        except (KeyError, TypeError, ValueError) as exc:
            self.runner.close()
            raise SpcError(f"the manifest of {artifact} is damaged (labels, sampling_rate, clip_seconds: "
                           f"bad or missing {exc}); export or build it again") from None
        self.batch_size = batch_size

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """Logits (N x C) for clips (N x S) already at the model's rate and length, in batches."""
        audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        out = [self.runner.infer(audio[s : s + self.batch_size]) for s in range(0, len(audio), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def close(self) -> None:
        """Free the backend (an engine's GPU buffers)."""
        self.runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        """Posteriors (N x C); each clip is centre-cropped or padded to the model's clip length."""
        clips = [fix_length(np.asarray(c, dtype=np.float32), self.clip_samples) for c in np.atleast_2d(clips)]
        return _softmax(self.logits(np.stack(clips)))

    def classify(self, clip: np.ndarray, top: int = 3) -> list[tuple[str, float]]:
        """The ``top`` classes of one clip with their probabilities."""
        p = self.probabilities(np.asarray(clip)[None])[0]
        return [(self.labels[i], float(p[i])) for i in np.argsort(-p)[:top]]

    def classify_batch(self, clips: np.ndarray) -> list[str]:
        """The top class of each clip."""
        return [self.labels[i] for i in self.probabilities(clips).argmax(axis=1)]

    def stream(self, recording: np.ndarray, hop_seconds: float = 0.1, smooth: int = 3, threshold: float = 0.8,
               refractory_seconds: float = 1.0, ignore: tuple[str, ...] = NON_KEYWORDS) -> list[Detection]:
        """Slide a clip-long window by ``hop_seconds``; detect where the posterior, averaged over the last
        ``smooth`` windows, reaches ``threshold`` for a keyword; one detection per ``refractory_seconds``."""
        if hop_seconds <= 0 or smooth < 1 or not 0 < threshold <= 1:
            raise SpcError("stream needs hop_seconds > 0, smooth >= 1 and 0 < threshold <= 1")
        x = np.asarray(recording, dtype=np.float32)
        n, hop = self.clip_samples, max(1, int(round(hop_seconds * self.sampling_rate)))
        if len(x) < n:
            x = np.pad(x, (0, n - len(x)))
        starts = np.arange(0, len(x) - n + 1, hop)
        windows = np.stack([x[s : s + n] for s in starts])
        post = _softmax(self.logits(windows))
        kernel = np.ones(smooth) / smooth
        smoothed = np.stack([np.convolve(post[:, c], kernel, mode="full")[: len(post)] for c in range(post.shape[1])], 1)
        keep = np.array([label not in ignore for label in self.labels])
        detections: list[Detection] = []
        last = -np.inf
        for i, s in enumerate(starts):
            scores = np.where(keep, smoothed[i], -1.0)
            c = int(scores.argmax())
            t = (s + n / 2) / self.sampling_rate
            if scores[c] >= threshold and t - last >= refractory_seconds:
                detections.append(Detection(round(float(t), 3), self.labels[c], float(scores[c])))
                last = t
        return detections
