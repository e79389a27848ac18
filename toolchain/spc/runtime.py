"""The runtime a keyword-spotting app embeds: load an artifact, classify numpy audio. No torch import.

Artifacts: ``model.onnx`` (spc export), ``*.ort.onnx`` (spc build --target cpu) and ``*.engine``
(spc build for a GPU target), each with its JSON manifest beside it (labels, sampling rate, clip
length).

    spotter = KeywordSpotter("model.onnx")
    spotter.classify(clip)                       # [("yes", 0.97), ("no", 0.01), ...]
    for d in spotter.stream(recording, hop_seconds=0.1, threshold=0.8):
        print(d.time_s, d.label, d.score)

Live audio goes through ``StreamingSpotter``, which ``KeywordSpotter.stream`` also uses, so the offline and
the live detections come from one implementation:

    live = StreamingSpotter("model.onnx", hop_seconds=0.1, threshold=0.8)
    for chunk in sound_card_chunks:              # any chunk size, e.g. 10-100 ms
        for d in live.push(chunk):
            print(d.label, d.end_s, d.compute_s)

Times (all in seconds of stream time, sample 0 of the stream = 0.0):

- window ``k`` covers samples ``[k * hop, k * hop + clip)``; it is scored as soon as its last sample arrives;
- ``Detection.time_s`` is the centre of the window that crossed the threshold (where the keyword is);
- ``Detection.end_s`` is the end of that window: the earliest stream time the detection can be emitted.
  The detection latency of a keyword is ``end_s - keyword_end`` (``spc stream-eval`` measures it against
  the known end of planted keywords);
- ``Detection.compute_s`` is wall-clock: seconds from the ``push`` call that completed the window to the
  detection (processing cost; a live app's delay is this plus the chunk's own length).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .audio import fix_length
from .engines.loader import open_runner
from .errors import SpcError

NON_KEYWORDS = ("_silence_", "_unknown_")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class StreamSettings:
    """How a live spotter decides, stated once: the runtime, ``spc run --stream``, ``spc stream-eval`` and
    compress's detectors all take their defaults from here."""

    hop_seconds: float = 0.1  # windows start this often
    smooth: int = 3  # posteriors averaged over this many windows
    threshold: float = 0.8  # a keyword is detected where its smoothed posterior reaches this
    refractory_seconds: float = 1.0  # at most one detection per this many seconds


STREAM = StreamSettings()


@dataclass(frozen=True)
class Detection:
    """A keyword found in a stream: window centre and end (stream seconds), label, smoothed posterior, wall-clock cost."""

    time_s: float
    label: str
    score: float
    end_s: float = 0.0
    compute_s: float = field(default=0.0, compare=False)


class KeywordSpotter:
    """Classify clips, batches or a stream of audio with an exported model or engine."""

    def __init__(self, artifact: str | Path, threads: int = 0, batch_size: int = 8, temperature: float | None = None):
        self.runner = open_runner(artifact, threads)
        self.manifest = self.runner.manifest
        try:
            self.labels: list[str] = [str(x) for x in self.manifest["labels"]]
            self.sampling_rate: int = int(self.manifest["sampling_rate"])
            self.clip_samples = int(round(float(self.manifest["clip_seconds"]) * self.sampling_rate))
            #: logits are divided by this before the softmax: a student calibrated to its teacher's scores
            #: (``spc compress`` records it in the manifest) so that a threshold means the same for both
            self.temperature = float(self.manifest.get("temperature", 1.0) if temperature is None else temperature)
            if not (self.temperature > 0 and np.isfinite(self.temperature)):
                raise ValueError(f"temperature {self.temperature}")
        except (KeyError, TypeError, ValueError) as exc:
            self.runner.close()
            raise SpcError(f"the manifest of {artifact} is damaged (labels, sampling_rate, clip_seconds, temperature: "
                           f"bad or missing {exc}); export or build it again") from None
        self.batch_size = batch_size

    def posteriors_of(self, logits: np.ndarray) -> np.ndarray:
        """Posteriors (N x C, float64) of logits, at the artifact's calibrated temperature."""
        return _softmax(np.asarray(logits, np.float64) / self.temperature)

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
        return self.posteriors_of(self.logits(np.stack(clips)))

    def classify(self, clip: np.ndarray, top: int = 3) -> list[tuple[str, float]]:
        """The ``top`` classes of one clip with their probabilities."""
        p = self.probabilities(np.asarray(clip)[None])[0]
        return [(self.labels[i], float(p[i])) for i in np.argsort(-p)[:top]]

    def classify_batch(self, clips: np.ndarray) -> list[str]:
        """The top class of each clip."""
        return [self.labels[i] for i in self.probabilities(clips).argmax(axis=1)]

    def stream(self, recording: np.ndarray, hop_seconds: float = STREAM.hop_seconds, smooth: int = STREAM.smooth,
               threshold: float = STREAM.threshold, refractory_seconds: float = STREAM.refractory_seconds,
               ignore: tuple[str, ...] = NON_KEYWORDS) -> list[Detection]:
        """Slide a clip-long window by ``hop_seconds``; detect where the posterior, averaged over the last
        ``smooth`` windows, reaches ``threshold`` for a keyword; one detection per ``refractory_seconds``.

        The whole recording is pushed through a ``StreamingSpotter`` (the live path), then flushed."""
        live = StreamingSpotter(self, hop_seconds, smooth, threshold, refractory_seconds, ignore=ignore)
        return live.push(recording) + live.flush()


def check_stream_settings(hop_seconds: float, smooth: int, threshold: float, refractory_seconds: float) -> None:
    """One user error for settings a stream cannot run with."""
    if not hop_seconds > 0 or smooth < 1 or not 0 < threshold <= 1 or not refractory_seconds >= 0:
        raise SpcError("stream needs hop_seconds > 0, smooth >= 1, 0 < threshold <= 1 and refractory_seconds >= 0")


class WindowRing:
    """A ring buffer of one clip that yields each window ``[k * hop, k * hop + clip)`` once its last sample arrives."""

    def __init__(self, clip_samples: int, hop_samples: int):
        self.n, self.hop = clip_samples, hop_samples
        self.buf = np.zeros(clip_samples, np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample is sample 0."""
        self.total = 0  # samples received
        self.next_index = 0  # the next window to complete
        self.buf[:] = 0.0

    @property
    def next_end(self) -> int:
        """The sample count at which the next window is complete."""
        return self.next_index * self.hop + self.n

    def _write(self, x: np.ndarray) -> None:
        """Append ``x`` (keeping only the last clip of it) at the ring's write position."""
        end = self.total + len(x)
        if len(x) > self.n:
            x = x[-self.n :]
        pos = (end - len(x)) % self.n
        first = min(len(x), self.n - pos)
        self.buf[pos : pos + first] = x[:first]
        self.buf[: len(x) - first] = x[first:]
        self.total = end

    def _window(self) -> np.ndarray:
        """The last clip of the stream, oldest sample first (a copy)."""
        pos = self.total % self.n
        return np.concatenate([self.buf[pos:], self.buf[:pos]])

    def feed(self, chunk: np.ndarray):
        """Write ``chunk``; yield ``(k, window)`` for every window it completes, in order."""
        i = 0
        while i < len(chunk):
            take = min(self.next_end - self.total, len(chunk) - i)
            self._write(chunk[i : i + take])
            i += take
            if self.total == self.next_end:
                yield self.next_index, self._window()
                self.next_index += 1

    def flush(self):
        """A stream shorter than one clip: yield its only window, zero-padded (as the offline path pads it)."""
        if self.next_index == 0 and self.total > 0:
            self._write(np.zeros(self.next_end - self.total, np.float32))
            yield self.next_index, self._window()
            self.next_index += 1


class Decider:
    """Smoothing, threshold and refractory period over window posteriors, one window at a time, in order."""

    def __init__(self, labels: list[str], rate: int, clip_samples: int, hop_samples: int, smooth: int = STREAM.smooth,
                 threshold: float = STREAM.threshold, refractory_seconds: float = STREAM.refractory_seconds,
                 ignore: tuple[str, ...] = NON_KEYWORDS):
        self.labels, self.rate, self.n, self.hop = labels, rate, clip_samples, hop_samples
        self.smooth, self.threshold, self.refractory = smooth, threshold, refractory_seconds
        self.keep = np.array([label not in ignore for label in labels])
        self.history = np.zeros((smooth, len(labels)))
        self.last = -np.inf

    def update(self, k: int, posterior: np.ndarray) -> Detection | None:
        """Take window ``k``'s posterior; the detection it triggers, if any."""
        self.history[k % self.smooth] = posterior
        scores = np.where(self.keep, self.history.sum(axis=0) / self.smooth, -1.0)
        c = int(scores.argmax())
        start = k * self.hop
        t = (start + self.n / 2) / self.rate
        if scores[c] < self.threshold or t - self.last < self.refractory:
            return None
        self.last = t
        return Detection(round(float(t), 3), self.labels[c], float(scores[c]), (start + self.n) / self.rate)


class StreamingSpotter:
    """Keyword detection on audio that arrives in chunks of any size, in bounded memory (a ring of one clip).

    ``push(chunk)`` returns the detections of the windows that chunk completed. Windows completed by one
    push are scored as one batch (up to the backend's ``max_batch``, else ``max_batch`` here), which is what
    keeps a GPU engine busy when the hop is small. ``artifact`` is a path or an open ``KeywordSpotter``.
    """

    def __init__(self, artifact: "str | Path | KeywordSpotter", hop_seconds: float = STREAM.hop_seconds,
                 smooth: int = STREAM.smooth, threshold: float = STREAM.threshold,
                 refractory_seconds: float = STREAM.refractory_seconds, *,
                 ignore: tuple[str, ...] = NON_KEYWORDS, threads: int = 0, max_batch: int | None = None):
        check_stream_settings(hop_seconds, smooth, threshold, refractory_seconds)
        self._owned = not isinstance(artifact, KeywordSpotter)
        self.spotter = KeywordSpotter(artifact, threads) if self._owned else artifact
        sp = self.spotter
        self.hop_samples = max(1, int(round(hop_seconds * sp.sampling_rate)))
        self.max_batch = max(1, int(max_batch or sp.runner.max_batch or sp.batch_size))
        self.ring = WindowRing(sp.clip_samples, self.hop_samples)
        self._settings = (smooth, threshold, refractory_seconds, tuple(ignore))
        self.decider = self.new_decider()

    def new_decider(self, threshold: float | None = None) -> Decider:
        """A fresh decision state with this spotter's settings (``threshold`` overridden if given)."""
        smooth, thr, refractory, ignore = self._settings
        sp = self.spotter
        return Decider(sp.labels, sp.sampling_rate, sp.clip_samples, self.hop_samples, smooth,
                       thr if threshold is None else threshold, refractory, ignore)

    @property
    def labels(self) -> list[str]:
        return self.spotter.labels

    @property
    def sampling_rate(self) -> int:
        return self.spotter.sampling_rate

    def posteriors(self, chunk: np.ndarray, flush: bool = False):
        """Yield ``(k, posterior)`` for the windows ``chunk`` completes (scored in batches); no decisions."""
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        windows = self.ring.flush() if flush else self.ring.feed(x)
        batch: list[tuple[int, np.ndarray]] = []
        for item in windows:
            batch.append(item)
            if len(batch) == self.max_batch:
                yield from self._score(batch)
                batch = []
        if batch:
            yield from self._score(batch)

    def _score(self, batch: list[tuple[int, np.ndarray]]):
        post = self.spotter.posteriors_of(self.spotter.runner.infer(np.stack([w for _, w in batch])))
        yield from ((k, p) for (k, _), p in zip(batch, post))

    def push(self, chunk: np.ndarray) -> list[Detection]:
        """Append audio (at the model's rate); the detections of the windows it completed."""
        return self._decide(self.posteriors(chunk), time.perf_counter())

    def flush(self) -> list[Detection]:
        """End of a stream shorter than one clip: score it zero-padded (what the offline path does)."""
        return self._decide(self.posteriors(np.zeros(0, np.float32), flush=True), time.perf_counter())

    def _decide(self, scored, t0: float) -> list[Detection]:
        found = []
        for k, p in scored:
            d = self.decider.update(k, p)
            if d is not None:
                found.append(replace(d, compute_s=time.perf_counter() - t0))
        return found

    def reset(self) -> None:
        """Start a new stream (time 0 again), keeping the model loaded."""
        self.ring.reset()
        self.decider = self.new_decider()

    def close(self) -> None:
        """Free the backend if this spotter opened it."""
        if self._owned:
            self.spotter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
