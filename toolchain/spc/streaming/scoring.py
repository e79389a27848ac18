"""A model's window posteriors on a split's streams: computed once (windows batched through its runner) and cached
by content, so the original is scored once per split however many candidates are read against it.

The cache key is the artifact's sha256, the streams' fingerprint (their settings, clips, levels and negative
audio), the hop and the temperature; a cache file is a compressed ``.npz`` of the float64 posteriors per
recording (what the runtime's decider compares with a threshold).
No torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import sha256_file
from ..progress import make_progress
from ..runtime import KeywordSpotter
from .streams import Streams


@dataclass
class StreamScores:
    """Window posteriors (K x C per recording, the model's class order), how they were made and what they cost."""

    posteriors: list[np.ndarray]
    labels: list[str]
    hop_seconds: float
    compute_seconds: float  # wall seconds spent scoring (0 where read from the cache)
    audio_seconds: float
    cached: bool

    @property
    def real_time_factor(self) -> float | None:
        """Compute seconds per second of audio (None where the scores came from the cache)."""
        return None if self.cached or not self.audio_seconds else self.compute_seconds / self.audio_seconds

    @property
    def windows(self) -> int:
        return int(sum(len(p) for p in self.posteriors))


def artifact_sha256(spotter: KeywordSpotter) -> str:
    """The sha256 of the artifact file a spotter runs (and of its manifest: the temperature lives there)."""
    h = hashlib.sha256(sha256_file(spotter.path).encode())
    h.update(json.dumps(spotter.manifest, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_key(spotter: KeywordSpotter, streams: Streams, hop_seconds: float, temperature: float) -> str:
    """What a model's scores on these streams depend on."""
    text = json.dumps([artifact_sha256(spotter), streams.fingerprint, hop_seconds, temperature, 1])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def score_streams(spotter: KeywordSpotter, streams: Streams, hop_seconds: float, *, temperature: float = 1.0,
                  cache_dir: str | Path | None = None, batch: int = 64, show_progress: bool = True,
                  name: str = "") -> StreamScores:
    """Every recording's window posteriors at ``temperature`` (read from ``cache_dir`` where this model has been
    scored on these streams before, else computed and written there)."""
    key = cache_key(spotter, streams, hop_seconds, temperature) if cache_dir is not None else None
    audio_seconds = sum(r.seconds for r in streams.recordings)
    if key is not None:
        cached = _read_cache(Path(cache_dir) / f"{key}.npz", len(streams.recordings), len(spotter.labels))
        if cached is not None:
            return StreamScores(cached, list(spotter.labels), hop_seconds, 0.0, audio_seconds, True)
    posts, spent = [], 0.0
    with make_progress(show_progress) as progress:
        task = progress.add_task(f"scoring {name or spotter.path.name} on {streams.split} streams",
                                 total=round(audio_seconds), info="")
        for rec in streams.recordings:
            x = rec.load(streams.rate)
            t0 = time.perf_counter()
            posts.append(spotter.window_posteriors(x, hop_seconds, temperature, batch))
            spent += time.perf_counter() - t0
            progress.update(task, advance=round(rec.seconds),
                            info=f"real-time factor {spent / max(1e-9, sum(len(p) for p in posts) * hop_seconds):.3f}")
    if key is not None:
        _write_cache(Path(cache_dir) / f"{key}.npz", posts)
    return StreamScores(posts, list(spotter.labels), hop_seconds, spent, audio_seconds, False)


def _read_cache(path: Path, n_recordings: int, n_classes: int) -> list[np.ndarray] | None:
    """The cached posteriors, or None where missing, damaged or not of this shape (scored again)."""
    try:
        with np.load(path) as z:
            posts = [z[f"r{i}"] for i in range(n_recordings)]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if any(p.ndim != 2 or p.shape[1] != n_classes or not np.isfinite(p).all() for p in posts):
        return None
    return posts


def _write_cache(path: Path, posts: list[np.ndarray]) -> None:
    """Write atomically (a temporary file beside it, then renamed): an interrupted run leaves no half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scores-", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **{f"r{i}": p for i, p in enumerate(posts)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
