"""The runtime a keyword-spotting app embeds: load an artifact, classify numpy audio. No torch import.

Artifacts: ``model.onnx`` (spc export), ``*.ort.onnx`` (spc build --target cpu) and ``*.engine``
(spc build for a GPU target), each with its JSON manifest beside it (labels, sampling rate, clip
length).

    spotter = KeywordSpotter("model.onnx")
    spotter.classify(clip)                       # [("yes", 0.97), ("no", 0.01), ...]
    for d in spotter.stream(recording):          # at the artifact's operating point (spc compress chose it)
        print(d.time_s, d.label, d.score)
    spotter.stream(recording, threshold=0.9)     # one setting changed by hand

Live audio goes through ``StreamingSpotter``, which ``KeywordSpotter.stream`` also uses, so the offline and
the live detections come from one implementation:

    live = StreamingSpotter("model.onnx")        # the operating point the artifact carries (else spc's defaults)
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
from .streaming.operating_point import DEFAULT, OperatingPoint, from_manifest

NON_KEYWORDS = ("_silence_", "_unknown_")


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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
        self.path = Path(artifact)
        try:
            self.labels: list[str] = _labels(self.manifest)
            self.sampling_rate: int = _whole(self.manifest["sampling_rate"], "sampling_rate", 1000, 384000)
            clip_seconds = float(self.manifest["clip_seconds"])
            if not (np.isfinite(clip_seconds) and 0 < clip_seconds <= 60):
                raise ValueError(f"clip_seconds {self.manifest['clip_seconds']!r}")
            self.clip_samples = int(round(clip_seconds * self.sampling_rate))
            carried = from_manifest(self.manifest, str(artifact))
            #: the operating point the artifact carries (``spc compress`` chose it on validation streams), or None
            self.operating_point: OperatingPoint | None = carried
            legacy = self.manifest.get("temperature", 1.0)  # written by spc before operating points
            #: logits are divided by this before the softmax (the operating point's, where the artifact has one)
            self.temperature = float(temperature if temperature is not None else
                                     carried.temperature if carried is not None else legacy)
            if not (np.isfinite(self.temperature) and 1e-3 <= self.temperature <= 1e3):
                raise ValueError(f"temperature {self.temperature!r}")
        except SpcError:
            self.runner.close()
            raise
        except (KeyError, TypeError, ValueError) as exc:
            self.runner.close()
            raise SpcError(f"the manifest of {artifact} is damaged (labels, sampling_rate, clip_seconds, temperature: "
                           f"bad or missing {exc}); export or build it again") from None
        self.batch_size = batch_size

    def point(self, point: OperatingPoint | None = None, **overrides) -> tuple[OperatingPoint, str]:
        """(the operating point a stream runs at, where it comes from): ``point`` where given, else the artifact's,
        else spc's defaults; then any setting in ``overrides`` (hop_seconds, smooth, threshold, refractory_seconds)
        changed by hand."""
        if point is not None:
            base, source = point, "given"
        elif self.operating_point is not None:
            base, source = self.operating_point, "the artifact's"
        else:
            base, source = replace(DEFAULT, temperature=self.temperature), "spc's defaults (the artifact carries none)"
        final = base.with_overrides(**overrides)
        if final is not base:
            source += ", changed by hand"
        return final, source

    def infer(self, audio: np.ndarray) -> np.ndarray:
        """The backend's logits (N x C) for windows (N x S), checked against the manifest's classes."""
        logits = self.runner.infer(audio)
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):
            raise SpcError(f"the manifest of {self.path} names {len(self.labels)} classes but the model gives "
                           f"{logits.shape[-1]} outputs: export or build it again")
        return logits

    def posteriors_of(self, logits: np.ndarray) -> np.ndarray:
        """Posteriors (N x C, float64) of logits, at the artifact's calibrated temperature."""
        return _softmax(np.asarray(logits, np.float64) / self.temperature)

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """Logits (N x C) for clips (N x S) already at the model's rate and length, in batches."""
        audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        out = [self.infer(audio[s : s + self.batch_size]) for s in range(0, len(audio), self.batch_size)]
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

    def stream(self, recording: np.ndarray, point: OperatingPoint | None = None, *,
               ignore: tuple[str, ...] = NON_KEYWORDS, **overrides) -> list[Detection]:
        """Slide a clip-long window by the hop; detect where a keyword's posterior, averaged over the last
        ``smooth`` windows, reaches the threshold; one detection per refractory period. Runs at ``point`` (default:
        the artifact's operating point, else spc's defaults) with any of ``overrides`` changed.

        The whole recording is pushed through a ``StreamingSpotter`` (the live path), then flushed."""
        live = StreamingSpotter(self, point, ignore=ignore, **overrides)
        return live.push(recording) + live.flush()

    def window_posteriors(self, recording: np.ndarray, hop_seconds: float, temperature: float = 1.0,
                          batch: int = 64) -> np.ndarray:
        """Posteriors (K x C, float64) of every window a live spotter with this hop completes on ``recording``
        (window k = samples [k * hop, k * hop + clip); a recording shorter than one clip: one zero-padded window),
        scored ``batch`` windows at a time: the live path's numbers, computed at evaluation speed."""
        x = np.asarray(recording, np.float32).reshape(-1)
        hop = max(1, int(round(hop_seconds * self.sampling_rate)))
        if len(x) < self.clip_samples:
            windows = fix_length(x, self.clip_samples)[None] if len(x) else np.zeros((0, self.clip_samples), np.float32)
            starts = range(len(windows))
        else:
            starts = range(0, len(x) - self.clip_samples + 1, hop)
            windows = None
        step = max(1, min(batch, self.runner.max_batch or batch))
        out = []
        for i in range(0, len(starts), step):
            chunk = (windows[i : i + step] if windows is not None else
                     np.stack([x[s : s + self.clip_samples] for s in starts[i : i + step]]))
            out.append(_softmax(np.asarray(self.infer(chunk), np.float64) / temperature))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))


def _labels(manifest: dict) -> list[str]:
    """The class names a manifest gives (a list of distinct non-empty names), or ValueError."""
    labels = manifest["labels"]
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, (str, int)) for x in labels):
        raise ValueError(f"labels {labels!r} (a list of at least two class names)")
    names = [str(x) for x in labels]
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise ValueError(f"labels {labels!r} (repeated or empty names)")
    return names


def _whole(value, name: str, lo: int, hi: int) -> int:
    """A manifest's whole number in [lo, hi], or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not lo <= value <= hi:
        raise ValueError(f"{name} {value!r}")
    return int(value)


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
    """Smoothing, threshold and refractory period over window posteriors, one window at a time, in order, at an
    operating point (``spc.streaming.decisions`` computes the same decisions for a whole recording at once)."""

    def __init__(self, labels: list[str], rate: int, clip_samples: int, point: OperatingPoint = DEFAULT,
                 ignore: tuple[str, ...] = NON_KEYWORDS):
        self.labels, self.rate, self.n = labels, rate, clip_samples
        self.hop = max(1, int(round(point.hop_seconds * rate)))
        self.smooth, self.threshold, self.refractory = point.smooth, point.threshold, point.refractory_seconds
        self.keep = np.array([label not in ignore for label in labels])
        self.history = np.zeros((self.smooth, len(labels)))
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

    def __init__(self, artifact: "str | Path | KeywordSpotter", point: OperatingPoint | None = None, *,
                 ignore: tuple[str, ...] = NON_KEYWORDS, threads: int = 0, max_batch: int | None = None, **overrides):
        self._owned = not isinstance(artifact, KeywordSpotter)
        self.spotter = KeywordSpotter(artifact, threads) if self._owned else artifact
        sp = self.spotter
        try:
            #: the operating point it runs at, and where that comes from (the artifact's, given, spc's defaults)
            self.point, self.point_source = sp.point(point, **overrides)
        except (SpcError, TypeError) as exc:
            self.close()
            raise SpcError(f"stream settings: {exc}") from None
        self.hop_samples = max(1, int(round(self.point.hop_seconds * sp.sampling_rate)))
        self.max_batch = max(1, int(max_batch or sp.runner.max_batch or sp.batch_size))
        self.ring = WindowRing(sp.clip_samples, self.hop_samples)
        self.ignore = tuple(ignore)
        self.decider = self.new_decider()

    def new_decider(self) -> Decider:
        """A fresh decision state at this spotter's operating point."""
        sp = self.spotter
        return Decider(sp.labels, sp.sampling_rate, sp.clip_samples, self.point, self.ignore)

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
        logits = np.asarray(self.spotter.infer(np.stack([w for _, w in batch])), np.float64)
        post = _softmax(logits / self.point.temperature)
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
