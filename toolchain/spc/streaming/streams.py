"""Long recordings an app would hear, built from a split: every clip at a stated SNR, then hours of negatives.

Two kinds of recording, both at ``rate``:

- **clip streams**: the split's keyword and non-keyword clips (leading and trailing padding trimmed) in a seeded
  order, between gaps of ``gap_seconds``, over background noise at ``noise_db`` dBFS in scenes of several colours
  and babble (made from the split's own non-keyword clips) or the user's noise files; each clip scaled so that its
  active-speech level stands ``snr_db`` above the noise, drawn per occurrence from one range every split shares
  (``_silence_`` clips, which are background themselves, at their recorded level);
- **negative recordings**: long keyword-free audio (espeak-ng sentences made at the same SNR range over the same
  noise colours, or the user's own recordings as they are), cut into pieces of ``recording_seconds`` and read
  from disk when scored (10 hours do not sit in memory).

``Streams.manifest()`` records every clip's place, level and SNR, every scene and every negative piece;
``Streams.fingerprint`` is a sha256 over that manifest and the audio's content, the key scores are cached by.
No torch.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import read_audio, trim_silence
from ..data.clips import balanced_indices
from ..errors import SpcError
from .mixing import gain_for_snr, noise_scenes

SILENCE = "_silence_"

#: a speaker name in a file name: FSDD's ``{digit}_{speaker}_{take}``, Speech Commands' ``{speaker}_nohash_{n}``
_SPEAKER = (re.compile(r"^\d_(?P<speaker>[A-Za-z]+)_\d+$"), re.compile(r"^(?P<speaker>[0-9a-f]{8})_nohash_\d+$"))


def speaker_of(path: str) -> str | None:
    """The speaker a clip's file name names (FSDD, Speech Commands), or None."""
    stem = Path(str(path).split("@")[0]).stem
    for pattern in _SPEAKER:
        m = pattern.match(stem)
        if m:
            return m["speaker"]
    return None


@dataclass(frozen=True)
class PlacedClip:
    """One clip inside a clip stream (seconds from the recording's start), with its gain and SNR."""

    recording: int
    label: str
    keyword: bool
    start_s: float
    end_s: float
    path: str
    snr_db: float | None  # None: a _silence_ clip, placed at its recorded level (it is background, not speech)
    speaker: str | None = None


@dataclass(frozen=True)
class NegativeFile:
    """A long keyword-free recording on disk: where it is, how long, its sha256 and where it comes from."""

    path: str
    seconds: float
    sha256: str
    source: str  # "espeak-ng" or "user"


@dataclass
class Recording:
    """One long recording: a clip stream held in memory, or a piece of a negative file read on demand."""

    index: int
    kind: str  # "clips" or "negatives"
    seconds: float
    source: str  # "clips", or the negative file's path
    source_kind: str  # "clips", "espeak-ng" or "user"
    offset_s: float = 0.0  # where the piece starts in its file
    scenes: list[tuple[float, float, str]] = field(default_factory=list)
    audio: np.ndarray | None = None

    def load(self, rate: int) -> np.ndarray:
        """The samples at ``rate`` (a negative piece is read from its file now)."""
        if self.audio is not None:
            return self.audio
        return read_audio(self.source, rate, self.offset_s, self.seconds)


@dataclass
class Streams:
    """A split's recordings and where every clip lies in them."""

    split: str
    rate: int
    clip_samples: int
    keywords: list[str]
    non_keywords: list[str]
    recordings: list[Recording]
    clips: list[PlacedClip]
    config: dict
    fingerprint: str = ""

    @property
    def clip_seconds(self) -> float:
        return self.clip_samples / self.rate

    def keyword_clips(self, recording: int) -> list[PlacedClip]:
        """The keyword clips of one recording, in placing order."""
        return [c for c in self.clips if c.keyword and c.recording == recording]

    def occurrences(self) -> list[PlacedClip]:
        """Every keyword occurrence, in recording order (the order per-occurrence results follow)."""
        return [c for r in self.recordings for c in self.keyword_clips(r.index)]

    def hours(self) -> dict:
        """Hours of all audio and of each kind of recording, and the clip counts."""
        kw = [c for c in self.clips if c.keyword]
        by_kind: dict[str, float] = {}
        for r in self.recordings:
            by_kind[r.source_kind] = by_kind.get(r.source_kind, 0.0) + r.seconds / 3600
        return {"total_hours": sum(r.seconds for r in self.recordings) / 3600, "hours_by_source": by_kind,
                "keyword_clips": len(kw), "non_keyword_clips": len(self.clips) - len(kw),
                "recordings": len(self.recordings)}

    def manifest(self) -> dict:
        """``recordings.json``: the settings, every recording (with its scenes) and every clip."""
        return {"split": self.split, "rate": self.rate, "clip_seconds": self.clip_seconds, "keywords": self.keywords,
                "non_keywords": self.non_keywords, "config": self.config, "fingerprint": self.fingerprint,
                "recordings": [{k: v for k, v in asdict(r).items() if k != "audio"} for r in self.recordings],
                "clips": [asdict(c) for c in self.clips]}


def build_streams(split: str, audio: np.ndarray, labels: Sequence[str], paths: Sequence[str], keywords: Sequence[str],
                  rate: int, clip_samples: int, config, negatives: Sequence[NegativeFile] = (),
                  noise_files: Sequence[np.ndarray] = ()) -> Streams:
    """The split's streams (see the module): clip streams from ``audio`` (N x S, the split's clips, each labelled),
    then ``negatives`` cut into pieces. ``config`` is a ``StreamEvalConfig`` (snr_db, noise_db, colours, gaps,
    recording length, repeats, max_clips, seed). Seeded; the same clips give the same streams."""
    if config.max_clips is not None and len(audio) > config.max_clips:
        keep = sorted(balanced_indices(list(labels), config.max_clips, seed=config.seed))
        audio, labels, paths = [audio[i] for i in keep], [labels[i] for i in keep], [paths[i] for i in keep]
    rng = np.random.default_rng([config.seed, _split_seed(split)])
    clips = [trim_silence(np.asarray(a, np.float32)) for a in audio]
    babble_speech = [c for c, lab in zip(clips, labels) if lab not in keywords and lab != SILENCE]
    order = np.concatenate([rng.permutation(len(clips)) for _ in range(config.repeats)]) if len(clips) else []
    gap = lambda: int(rng.uniform(*config.gap_seconds) * rate)  # noqa: E731
    groups, current, pos = [], [], gap()
    for idx in order:
        if len(clips[idx]) == 0:
            continue
        current.append((int(idx), pos))
        pos += len(clips[idx]) + gap()
        if pos >= config.recording_seconds * rate:
            groups.append((current, pos + clip_samples))
            current, pos = [], gap()
    if current:
        groups.append((current, pos + clip_samples))
    noise_rms = 10 ** (config.noise_db / 20)
    out = Streams(split, rate, clip_samples, list(keywords), sorted({*labels} - {*keywords}), [], [],
                  stream_settings(config))
    h = hashlib.sha256()
    for r, (items, length) in enumerate(groups):
        noise, scenes = noise_scenes(length, rate, rng, config.colours, babble_speech, noise_files)
        x = noise * np.float32(noise_rms)
        for idx, start in items:
            snr = float(rng.uniform(*config.snr_db))
            gain = 1.0 if labels[idx] == SILENCE else gain_for_snr(clips[idx], rate, noise_rms, snr)
            x[start : start + len(clips[idx])] += clips[idx] * np.float32(gain)
            out.clips.append(PlacedClip(r, labels[idx], labels[idx] in keywords, round(start / rate, 6),
                                        round((start + len(clips[idx])) / rate, 6), paths[idx],
                                        None if labels[idx] == SILENCE else round(snr, 3), speaker_of(paths[idx])))
        if np.abs(x).max(initial=0.0) > 1.0:
            x = np.clip(x, -1.0, 1.0)  # a loud clip at the top of the SNR range: clipped, as a sound card would
        h.update(x.tobytes())
        out.recordings.append(Recording(r, "clips", length / rate, "clips", "clips", scenes=scenes, audio=x))
    step = config.recording_seconds
    for neg in negatives:
        if neg.seconds < clip_samples / rate:
            from ..console import warn

            warn(f"negative audio {neg.path} is shorter than one clip ({neg.seconds:.2f} s < {clip_samples / rate:g} s): "
                 "left out")
        start = 0.0
        while neg.seconds - start >= clip_samples / rate:
            length = min(step, neg.seconds - start)
            out.recordings.append(Recording(len(out.recordings), "negatives", round(length, 6), neg.path, neg.source,
                                            round(start, 6)))
            start += step
        h.update(neg.sha256.encode())
    h.update(json.dumps({k: v for k, v in out.manifest().items() if k != "fingerprint"}, sort_keys=True,
                        default=str).encode())
    out.fingerprint = h.hexdigest()
    if not any(c.keyword for c in out.clips):
        raise SpcError(f"the {split} split has no keyword clip to build streams from (keywords: {', '.join(keywords)})")
    return out


def _split_seed(split: str) -> int:
    """Another stream of random choices per split (validation and test streams differ, with the same settings)."""
    return {"train": 2, "validation": 1, "test": 0}.get(split, 3)


#: the fields of a StreamEvalConfig that decide how streams are built (the rest decide how they are read)
STREAM_FIELDS = ("snr_db", "noise_db", "colours", "gap_seconds", "recording_seconds", "repeats", "max_clips", "seed")


def stream_settings(config) -> dict:
    """The settings streams were built with (JSON values)."""
    return json.loads(json.dumps({f: getattr(config, f) for f in STREAM_FIELDS}))
