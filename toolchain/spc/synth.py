"""An offline keyword data set spoken by espeak-ng (the built-in demo data).

The ``espeakng-loader`` wheel ships libespeak-ng and its voices; it is driven through ctypes with
the synchronous synthesis API. Each clip varies voice, rate, pitch, gain, position and noise.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .audio import resample
from .errors import SpcError
from .fileio import read_json
from .progress import track

DEMO_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
#: words that are not keywords (Speech Commands' own "unknown" words)
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-us+m3", "en-us+f2", "en+f4", "en+m7", "en-029", "en-gb-x-gbclan")
_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3  # espeak_PARAMETER values
_AUDIO_OUTPUT_SYNCHRONOUS, _POS_CHARACTER = 2, 1


@dataclass(frozen=True)
class SynthConfig:
    """What the demo data set holds; written beside it so that it says how it was made."""

    words: tuple[str, ...] = DEMO_WORDS
    clips_per_word: int = 100
    #: other words spoken the same way, one class ``_unknown_`` (0 clips: no such class)
    unknown_words: tuple[str, ...] = UNKNOWN_WORDS
    unknown_clips: int = 0
    silence_clips: int = 0  # ``_silence_``: one-second clips of noise alone (levels as ``noise_db``, plus quieter)
    rate: int = 16000
    clip_seconds: float = 1.0
    noise_db: tuple[float, float] = (-45.0, -25.0)  # white noise level relative to full scale
    seed: int = 0
    splits: tuple[float, float, float] = (0.6, 0.25, 0.15)  # 250 validation clips: enough for a 95% target


class Espeak:
    """A minimal ctypes binding to libespeak-ng's synchronous synthesis."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise SpcError("the demo data needs the espeakng-loader package: pip install espeakng-loader") from None
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.rate <= 0:
            raise SpcError("espeak-ng failed to initialise")
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # keep a reference while the library holds it
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
        return 0

    def say(self, text: str, voice: str, words_per_minute: int, pitch: int) -> np.ndarray:
        """Speak ``text``; float32 samples at ``self.rate``."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpcError(f"espeak-ng has no voice '{voice}'")
        self._lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)
        self._lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
        self._chunks = []
        data = text.encode()
        self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self._lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)


def make_keyword_dataset(dest: str | Path, config: SynthConfig = SynthConfig(), show_progress: bool = True) -> Path:
    """Write ``dest/{train,validation,test}/WORD/*.wav`` and ``dest/synth.json``; returns ``dest``.

    Every choice (voice, rate, pitch, gain, position, noise) is drawn from ``config.seed``, but espeak-ng's
    own output is not reproducible: its internal state differs between processes (measured here: about 1
    clip in 10 differs between two runs, seeding its random generator does not fix it). Two data sets made
    with one seed are alike, not bit-identical. An existing complete data set with the same config is kept.
    """
    import soundfile as sf

    dest = Path(dest)
    manifest = dest / "synth.json"
    if manifest.is_file() and read_json(manifest, "demo data manifest").get("config") == json.loads(json.dumps(asdict(config))):
        return dest
    rng = np.random.default_rng(config.seed)
    engine = Espeak()
    n = int(round(config.rate * config.clip_seconds))
    jobs = [(w, w, k, config.clips_per_word) for w in config.words for k in range(config.clips_per_word)]
    jobs += [(config.unknown_words[k % len(config.unknown_words)], "_unknown_", k, config.unknown_clips)
             for k in range(config.unknown_clips)]
    jobs += [(None, "_silence_", k, config.silence_clips) for k in range(config.silence_clips)]
    counts = {"train": 0, "validation": 0, "test": 0}
    for word, label, k, of in track(jobs, "speaking keywords", show=show_progress):
        clip = np.zeros(n, np.float32)
        if word is not None:
            voice = VOICES[rng.integers(len(VOICES))]
            speech = engine.say(word, voice, int(rng.integers(120, 240)), int(rng.integers(25, 80)))
            speech = resample(speech, engine.rate, config.rate)
            speech = speech[: n - 1600] * float(rng.uniform(0.3, 1.0)) / max(1e-6, float(np.abs(speech).max()))
            offset = int(rng.integers(0, n - len(speech) + 1))
            clip[offset : offset + len(speech)] = speech
        lo, hi = config.noise_db
        level = rng.uniform(lo - 20 if word is None else lo, hi)  # silence also holds quieter rooms
        clip += (10 ** (level / 20) * rng.standard_normal(n)).astype(np.float32)
        frac = k / of
        split = "train" if frac < config.splits[0] else "validation" if frac < config.splits[0] + config.splits[1] else "test"
        out = dest / split / label / f"{word or 'noise'}_{k:04d}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out), np.clip(clip, -1, 1), config.rate, subtype="PCM_16")
        counts[split] += 1
    manifest.write_text(json.dumps({"config": asdict(config), "clips": counts, "engine": "espeak-ng"}, indent=2))
    return dest
