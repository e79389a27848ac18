"""Speech at a stated SNR over noise: levels, noise colours and babble, the one noise generator spc uses.

Recordings differ by tens of dB in level (FSDD's speakers by about 20 dB), so a stream that places clips at
their recorded level over a fixed noise tests each split at another SNR. Every clip placed in a stream is
instead scaled so that its **active-speech level** (the RMS of the louder half of its 10 ms frames, a simple
stand-in for ITU-T P.56's active speech level) stands ``snr_db`` above the noise's RMS, with ``snr_db`` drawn per
occurrence from one distribution that every split shares. No torch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..audio import unit_rms

#: noise colours a scene can take ("babble" where there is speech to make it from)
COLOURS = ("white", "pink", "brown")
#: the background noise level of every stream and of the negatives made for them (a quiet room: speech at 25 dB SNR
#: then stands at -25 dBFS active level, its peaks clear of full scale)
NOISE_DB = -50.0
#: the SNR range every placed clip and every negative sentence is drawn from (uniform, per occurrence)
SNR_DB = (5.0, 25.0)


def active_rms(x: np.ndarray, rate: int, frame_seconds: float = 0.01) -> float:
    """RMS of the louder half of ``x``'s frames (10 ms by default): the level of the speech in a clip, not of the
    pauses around it. 0 for silence."""
    x = np.asarray(x, np.float64).reshape(-1)
    n = max(1, int(round(frame_seconds * rate)))
    frames = len(x) // n
    if frames == 0:
        return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    power = np.mean(x[: frames * n].reshape(frames, n) ** 2, axis=1)
    loud = np.sort(power)[frames // 2 :]
    return float(np.sqrt(loud.mean()))


def db(x: float) -> float:
    """A level in dB (re 1.0, so dBFS for audio in [-1, 1]); -inf for 0."""
    return 20 * np.log10(x) if x > 0 else float("-inf")


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of white, pink (power 1/f) or brown (1/f^2) noise at unit RMS; the colours are shaped in the
    frequency domain over a power-of-two length (fast at any ``n``; numpy only, so the device side needs no filter
    library)."""
    if n == 0:
        return np.zeros(0, np.float32)
    if colour not in COLOURS:
        raise ValueError(f"unknown noise colour {colour!r}; choose {', '.join(COLOURS)}")
    if colour == "white":
        return unit_rms(rng.standard_normal(n)).astype(np.float32)
    m = 1 << max(1, int(np.ceil(np.log2(n))))
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= f ** (0.5 if colour == "pink" else 1.0)  # amplitude 1/sqrt(f): power 1/f; 1/f: power 1/f^2
    spec[0] = 0.0
    x = np.fft.irfft(spec, m)[:n]
    return unit_rms(x - x.mean()).astype(np.float32)


def babble(n: int, rate: int, speech: Sequence[np.ndarray], rng: np.random.Generator,
           talkers: tuple[int, int] = (4, 7)) -> np.ndarray:
    """``n`` samples of babble at unit RMS: ``talkers`` (min, max) overlapping voices, each a seeded sequence of the
    given speech clips (each clip level-normalised), or white noise where there is no speech."""
    usable = [np.asarray(c, np.float32) for c in speech if len(c) and active_rms(c, rate) > 0]
    if not usable or n == 0:
        return coloured_noise(n, "white", rng)
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(talkers[0], talkers[1] + 1))):
        pos = -int(rng.integers(0, rate))
        while pos < n:
            clip = usable[int(rng.integers(len(usable)))]
            clip = clip / max(active_rms(clip, rate), 1e-9)
            lo, hi = max(pos, 0), min(pos + len(clip), n)
            if hi > lo:
                out[lo:hi] += clip[lo - pos : hi - pos]
            pos += len(clip) + int(rng.integers(0, rate // 10 + 1))
    return unit_rms(out).astype(np.float32)


def noise_scenes(n: int, rate: int, rng: np.random.Generator, colours: Sequence[str], speech: Sequence[np.ndarray] = (),
                 noise_files: Sequence[np.ndarray] = (), scene_seconds: tuple[float, float] = (20.0, 90.0)
                 ) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """(``n`` samples of unit-RMS background noise, its scenes as (start s, end s, kind)): scenes of 20 to 90 s, each
    a colour of ``colours`` ("babble" made from ``speech``) or, where ``noise_files`` are given, a random stretch
    of one of them (kind ``"file:K"``); 50 ms crossfades between scenes."""
    out = np.zeros(n, np.float32)
    scenes, pos = [], 0
    fade = int(0.05 * rate)
    while pos < n:
        length = min(n - pos, int(rng.uniform(*scene_seconds) * rate))
        if noise_files:
            k = int(rng.integers(len(noise_files)))
            src = np.asarray(noise_files[k], np.float32)
            reps = int(np.ceil(length / max(1, len(src))))
            start = int(rng.integers(0, max(1, len(src))))
            x, kind = unit_rms(np.tile(src, reps + 1)[start : start + length]), f"file:{k}"
        else:
            kind = colours[int(rng.integers(len(colours)))]
            x = babble(length, rate, speech, rng) if kind == "babble" else coloured_noise(length, kind, rng)
        if pos > 0 and length > 2 * fade:
            ramp = np.linspace(0, 1, fade, dtype=np.float32)
            x[:fade] *= ramp
            out[pos : pos + fade] *= ramp[::-1]
        out[pos : pos + length] += x
        scenes.append((pos / rate, (pos + length) / rate, kind))
        pos += length
    return out, scenes


def gain_for_snr(clip: np.ndarray, rate: int, noise_rms: float, snr_db: float) -> float:
    """The gain that puts ``clip``'s active-speech level ``snr_db`` above ``noise_rms`` (1.0 for a silent clip)."""
    level = active_rms(clip, rate)
    return 1.0 if level <= 0 else float(noise_rms * 10 ** (snr_db / 20) / level)
