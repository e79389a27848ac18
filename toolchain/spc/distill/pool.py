"""A window pool that looks like the app's audio, sampled afresh each epoch, with hard negatives mined from it.

A student that learns from one fixed set of windows, made at levels no stream has, fires on what it never heard
(issue 35). Here the windows are made the way ``spc.streaming.streams`` makes the streams a detector is judged on:

- ``word``: a training clip among two neighbouring clips and gaps, cut at a random offset (20-100% of its speech
  inside), every clip at an SNR drawn from the streams' range over background noise of a random colour;
- ``other``: the same around a non-keyword clip (the other words: adversarial negatives);
- ``negative``: a window of long keyword-free audio (espeak-ng sentences at the same SNRs, or the user's own);
- ``noise``: background alone (a colour, or babble made from the non-keyword clips), at the streams' level +-10 dB;

then a gain change (+-6 dB) and, for a share, a synthetic room (an exponentially decaying noise impulse response,
RT60 0.2-0.7 s). The pool holds ``factor`` epochs' worth; ``EpochSampler`` draws each epoch's windows from it
(seeded by the epoch, so a resumed run draws the same), preferring the negatives the student scored highest at the
epoch's start (hard negatives) where asked. No label is invented: the teacher labels every window.
"""

from __future__ import annotations

import numpy as np

from ..audio import trim_silence
from ..streaming.mixing import COLOURS, NOISE_DB, SNR_DB, babble, coloured_noise, gain_for_snr

KINDS = ("word", "other", "negative", "noise")
SHARES = (0.5, 0.15, 0.2, 0.15)
REVERB_SHARE = 0.3


def room(n_taps_seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: the direct path, then noise decaying by 60 dB over ``n_taps_seconds``."""
    n = max(2, int(n_taps_seconds * rate))
    t = np.arange(n) / rate
    h = rng.standard_normal(n) * np.exp(-6.9 * t / n_taps_seconds) * 0.3
    h[0] = 1.0
    return h / np.sqrt(np.sum(h**2))


def reverberate(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` in a synthetic room (RT60 0.2-0.7 s), cut back to its length."""
    from scipy.signal import fftconvolve

    return fftconvolve(x, room(rng.uniform(0.2, 0.7), rate, rng))[: len(x)].astype(np.float32)


def _context(speech: list[np.ndarray], i: int, s: int, rate: int, rng: np.random.Generator,
             babble_from: list[np.ndarray]) -> np.ndarray:
    """Clip ``i`` between two random neighbours and gaps, each at its own SNR over background noise, cut so that
    20-100% of clip ``i``'s speech lies inside a window of ``s`` samples."""
    noise_rms = 10 ** (NOISE_DB / 20)
    parts = [speech[j] for j in (int(rng.integers(len(speech))), i, int(rng.integers(len(speech))))]
    parts = [p * np.float32(gain_for_snr(p, rate, noise_rms, rng.uniform(*SNR_DB))) for p in parts]
    gaps = [int(rng.uniform(0.05, 0.6) * s) for _ in range(2)]
    context = np.concatenate([parts[0], np.zeros(gaps[0], np.float32), parts[1], np.zeros(gaps[1], np.float32),
                              parts[2]])
    start, length = len(parts[0]) + gaps[0], max(len(parts[1]), 1)
    inside, mode = rng.uniform(0.2, 1.0), rng.random()
    if mode < 0.4:  # the whole clip, off centre
        lo = start - int(rng.uniform(0, max(s - length, 0)))
    elif mode < 0.7:  # the window ends inside the clip
        lo = start + int(inside * length) - s
    else:  # the window starts inside the clip
        lo = start + int((1 - inside) * length)
    padded = np.concatenate([np.zeros(s, np.float32), context, np.zeros(s, np.float32)])
    window = padded[lo + s : lo + 2 * s]
    return window + _background(s, rate, rng, babble_from) * np.float32(noise_rms)


def _background(n: int, rate: int, rng: np.random.Generator, babble_from: list[np.ndarray]) -> np.ndarray:
    """Unit-RMS background: a noise colour, or babble where there is speech to make it from."""
    kinds = COLOURS + (("babble",) if babble_from else ())
    kind = kinds[int(rng.integers(len(kinds)))]
    return babble(n, rate, babble_from, rng) if kind == "babble" else coloured_noise(n, kind, rng)


def pool_windows(audio: np.ndarray, labels: list[str], keywords: list[str], n: int, rate: int, *, seed: int = 0,
                 negatives: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[str]]:
    """``n`` windows (n x S float32, S the clip length) made as the module says, and the kind of each; seeded.
    ``audio`` (N x S) are the training clips and ``labels`` their class names."""
    rng = np.random.default_rng([seed, 35])
    s = audio.shape[1]
    speech = [trim_silence(x) for x in audio]
    usable = [i for i, x in enumerate(speech) if len(x)]
    words = [i for i in usable if labels[i] in keywords] or usable
    others = [i for i in usable if labels[i] not in keywords and labels[i] != "_silence_"]
    babble_from = [speech[i] for i in others[:200]]
    long = [x for x in (negatives or []) if len(x) > s]
    kinds = [KINDS[k] for k in rng.choice(len(KINDS), size=n, p=SHARES)]
    out = np.zeros((n, s), np.float32)
    for k, kind in enumerate(kinds):
        if kind == "negative" and long:
            x = long[int(rng.integers(len(long)))]
            lo = int(rng.integers(len(x) - s))
            w = np.asarray(x[lo : lo + s], np.float32)
        elif kind == "noise" or (kind == "other" and not others) or (kind == "negative" and not others):
            w = _background(s, rate, rng, babble_from) * np.float32(10 ** ((NOISE_DB + rng.uniform(-10, 10)) / 20))
        else:
            pick = words if kind == "word" else others
            w = _context(speech, pick[int(rng.integers(len(pick)))], s, rate, rng, babble_from)
        w = w * np.float32(10 ** (rng.uniform(-6, 6) / 20))
        if rng.random() < REVERB_SHARE:
            w = reverberate(w, rate, rng)
        out[k] = np.clip(w, -1.0, 1.0)
    return out, kinds


class EpochSampler:
    """Which pool windows each epoch trains on: ``per_epoch`` of ``pool`` drawn afresh (seeded by the epoch), the
    first ``hard`` share of them the hard negatives set for that epoch (``set_hard``), the rest at random.

    The training set an epoch sees is the aligned clips (indices below ``n_clips``) then ``per_epoch`` windows;
    ``map`` turns such an index into one of the pool (clips first, then the pool)."""

    def __init__(self, n_clips: int, pool: int, per_epoch: int, seed: int, hard_share: float = 0.0):
        self.n_clips, self.pool, self.per_epoch = n_clips, pool, min(per_epoch, pool)
        self.seed, self.hard_share = seed, hard_share
        self.hard: dict[int, np.ndarray] = {}
        self._chosen: dict[int, np.ndarray] = {}

    @property
    def n_train(self) -> int:
        return self.n_clips + self.per_epoch

    def set_hard(self, epoch: int, ranked: np.ndarray) -> None:
        """The pool windows (most confusing first) an epoch should take before drawing at random."""
        self.hard[epoch] = np.asarray(ranked, np.int64)[: int(self.hard_share * self.per_epoch)]
        self._chosen.pop(epoch, None)

    def windows(self, epoch: int) -> np.ndarray:
        """The pool indices epoch ``epoch`` trains on (``per_epoch`` of them)."""
        if epoch not in self._chosen:
            hard = self.hard.get(epoch, np.zeros(0, np.int64))
            rng = np.random.default_rng([self.seed, epoch, 7])
            rest = rng.permutation(np.setdiff1d(np.arange(self.pool), hard))[: self.per_epoch - len(hard)]
            self._chosen[epoch] = np.concatenate([hard, rest]).astype(np.int64)
        return self._chosen[epoch]

    def map(self, idx, epoch: int):
        """Training-set indices of an epoch (a LongTensor or array) -> indices into clips-then-pool."""
        import torch

        arr = np.asarray(idx.cpu() if hasattr(idx, "cpu") else idx, np.int64)
        w = arr >= self.n_clips
        out = arr.copy()
        out[w] = self.n_clips + self.windows(epoch)[arr[w] - self.n_clips]
        return torch.from_numpy(out) if hasattr(idx, "cpu") else out
