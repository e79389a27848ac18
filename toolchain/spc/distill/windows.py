"""Stream-like training windows: what a live detector sees between and across aligned clips.

A streaming app scores a one-clip window every hop, so most windows hold a word shifted off centre, a
partial word, the tail of one word and the head of the next, a gap, or no speech at all. A student trained
only on aligned clips has never seen those, and its scores there are its own. Each window here is labelled
by the teacher (soft labels and, for a mimic, the last hidden state: free supervision), so no label is
invented. Kinds, drawn per window (seeded):

- ``shift``: a training clip placed in a context of two neighbouring clips with gaps of noise, and a window
  cut at a random offset so that 20-100% of the clip's speech is inside it (partial words at the edges);
- ``negative``: a random window of long non-keyword audio where given (else a shifted non-keyword clip);
- ``noise``: white or pink-like noise at a random level (what the gaps hold).
"""

from __future__ import annotations

import numpy as np

from ..audio import trim_silence, unit_rms
from ..data.layouts import SILENCE, UNKNOWN

KINDS = ("shift", "negative", "noise")
SHARES = (0.7, 0.15, 0.15)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of white or low-passed noise at -70 to -30 dB re full scale."""
    x = rng.standard_normal(n)
    if rng.random() < 0.5:
        x = np.convolve(x, np.ones(8) / 8, mode="same")
        x = unit_rms(x)
    return (10 ** (rng.uniform(-70, -30) / 20) * x).astype(np.float32)


def _shifted(speech: list[np.ndarray], s: int, i: int, rng: np.random.Generator) -> np.ndarray:
    """Clip ``i`` (``speech``: every clip without its padding) between two random neighbours and gaps,
    cut at a random offset (``s`` samples)."""
    parts = [speech[j] for j in (int(rng.integers(len(speech))), i, int(rng.integers(len(speech))))]
    gaps = [int(rng.uniform(0.05, 0.6) * s) for _ in range(2)]
    context = np.concatenate([parts[0], np.zeros(gaps[0], np.float32), parts[1], np.zeros(gaps[1], np.float32),
                              parts[2]])
    start = len(parts[0]) + gaps[0]  # where clip i's speech begins in the context
    length = max(len(parts[1]), 1)
    inside = rng.uniform(0.2, 1.0)  # the share of the clip's speech in the window, where it is cut
    mode = rng.random()
    if mode < 0.4:  # the whole clip, off centre
        lo = start - int(rng.uniform(0, max(s - length, 0)))
    elif mode < 0.7:  # the window ends inside the clip: its onset at the window's right edge
        lo = start + int(inside * length) - s
    else:  # the window starts inside the clip: its end at the window's left edge
        lo = start + int((1 - inside) * length)
    padded = np.concatenate([np.zeros(s, np.float32), context, np.zeros(s, np.float32)])
    return padded[lo + s : lo + 2 * s] + _noise(s, rng)


def stream_windows(audio: np.ndarray, targets: np.ndarray, labels: list[str], n: int, *, seed: int = 0,
                   negatives: list[np.ndarray] | None = None, non_keywords: tuple[str, ...] = (SILENCE, UNKNOWN)
                   ) -> tuple[np.ndarray, list[str]]:
    """``n`` windows (n x S float32, S the clip length) cut from ``audio`` (N x S training clips) and
    ``negatives`` (long arrays), and the kind of each; seeded."""
    rng = np.random.default_rng(seed)
    s = audio.shape[1]
    negative_idx = np.flatnonzero(np.isin(np.asarray(labels)[targets], non_keywords)) if len(targets) else []
    long = [x for x in (negatives or []) if len(x) > s]
    speech = [trim_silence(x) for x in audio]  # once per clip, not once per window
    kinds = rng.choice(len(KINDS), size=n, p=SHARES)
    out = np.zeros((n, s), np.float32)
    for k, kind in enumerate(kinds):
        if KINDS[kind] == "shift":
            out[k] = _shifted(speech, s, int(rng.integers(len(audio))), rng)
        elif KINDS[kind] == "negative" and long:
            x = long[int(rng.integers(len(long)))]
            lo = int(rng.integers(len(x) - s))
            out[k] = x[lo : lo + s]
        elif KINDS[kind] == "negative" and len(negative_idx):
            out[k] = _shifted(speech, s, int(rng.choice(negative_idx)), rng)
        else:
            out[k] = _noise(s, rng)
    return out, [KINDS[k] for k in kinds]
