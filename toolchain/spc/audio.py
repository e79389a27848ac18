"""Reading clips: mono, resampled to the model's rate, padded or cropped to a fixed length."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


class BadAudio(ValueError):
    """A file that cannot be used (unreadable, empty, silent, not finite); the reason is the message."""


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy) from ``src_rate`` to ``dst_rate``; 1-D float32 out."""
    if src_rate == dst_rate:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    ratio = Fraction(dst_rate, src_rate)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def read_audio(path: str | Path, rate: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Read ``path`` (optionally a segment in seconds) as mono float32 at ``rate``; raises ``BadAudio``."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise BadAudio(f"dangling symbolic link (to {os.readlink(path)})")
    if not path.exists():
        raise BadAudio("no such file")
    if path.is_dir():
        raise BadAudio("is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise BadAudio("empty file (0 bytes)")
    if path.suffix.lower() == ".wav":
        short = wav_truncation(path)
        if short:
            raise BadAudio(short)
    return _decode(os.fsencode(path), rate, start, duration)  # bytes: file names need not be valid UTF-8


def wav_truncation(path: str | Path) -> str:
    """Why a RIFF/WAVE file holds less audio than its header declares ("" where it holds all of it, or is not a
    plain RIFF file): a copy cut short reads without an error, as a shorter clip with a wrong label's worth."""
    import struct

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return ""
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk, length = struct.unpack("<4sI", f.read(8))
                if chunk == b"data":
                    have = size - pos - 8
                    if length not in (0, 0xFFFFFFFF) and have < length:
                        return f"truncated: holds {have / length:.0%} of the audio its header declares"
                    return ""
                pos += 8 + length + (length & 1)
    except OSError:
        return ""
    return ""


def read_audio_bytes(data: bytes, rate: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode an encoded audio file held in memory (WAV, FLAC, OGG, MP3) like ``read_audio``; raises ``BadAudio``."""
    import io

    if not data:
        raise BadAudio("empty")
    return _decode(io.BytesIO(data), rate, start, duration)


def _reason(exc: BaseException) -> str:
    """soundfile's reason without its way of naming the source (``Error opening b'/x.wav': ``, ``<_io.BytesIO ...>``):
    the caller names the file or row."""
    import re

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = re.sub(r"^Error opening (b?'.*?'|<.*?>): ", "", text)
    return text.rstrip(".") or type(exc).__name__


def _decode(source, rate: int, start: float, duration: float | None) -> np.ndarray:
    """Read a file name or file object with soundfile, mix to mono, check it and resample to ``rate``."""
    import soundfile as sf

    try:
        with sf.SoundFile(source) as f:
            src_rate = f.samplerate
            f.seek(int(start * src_rate))
            frames = -1 if duration is None else int(round(duration * src_rate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise BadAudio(f"unreadable: {_reason(exc)}") from None
    if data.size == 0:
        raise BadAudio("empty")
    x = data.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise BadAudio("contains NaN or infinite samples")
    return resample(x, src_rate, rate)  # digital silence is audio too: it is what a _silence_ class holds


def unit_rms(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to RMS 1 (silence stays silence: the RMS is floored at ``stats.EPS``); same dtype as ``x``."""
    from .stats import EPS

    return x / max(float(np.sqrt(np.mean(x**2))), EPS)


def fix_length(x: np.ndarray, n: int) -> np.ndarray:
    """Centre-crop or zero-pad (equally on both sides) a 1-D signal to exactly ``n`` samples."""
    if len(x) > n:
        start = (len(x) - n) // 2
        return x[start : start + n]
    if len(x) < n:
        left = (n - len(x)) // 2
        return np.pad(x, (left, n - len(x) - left))
    return x


def trim_silence(x: np.ndarray) -> np.ndarray:
    """The clip without the exact zeros that padding to the clip length added at either end."""
    nz = np.flatnonzero(x)
    return x[nz[0] : nz[-1] + 1] if len(nz) else x[:0]
