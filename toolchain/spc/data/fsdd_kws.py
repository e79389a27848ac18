"""A development keyword task with an app's classes, made from the Free Spoken Digit Dataset (FSDD).

FSDD is ten digits, six speakers, fifty takes each: a closed-vocabulary task. An app spots a few
keywords and must reject everything else, so ``make_fsdd_kws`` turns it into a Speech Commands
v2-12-like task, written in the Speech Commands preprocessed folder form:

- ``dest/<digit>/*.wav`` for each keyword digit (default 0, 1 and 2; every take of every speaker);
- ``dest/_unknown_/*.wav``: the other digits (``unknown_takes`` seeded takes of each digit per speaker,
  so that the class does not dwarf the keywords) and espeak-ng words that are neither digits nor their
  homophones (``espeak_words`` clips);
- ``dest/_silence_/*.wav``: 1 s of white, pink or quiet room-tone-like noise (``silence`` clips);
- ``dest/validation_list.txt``, ``dest/testing_list.txt``: relative paths; every clip in neither is training.

The split is by speaker: the test speakers' clips (two by default, so that test holds 300 keyword clips from
more than one voice) are the test split, the validation speaker's the validation split, the other speakers'
the training split; espeak words and silence are split by
``splits`` (70/15/15). Clips are 16 kHz mono PCM_16 (FSDD's 8 kHz resampled). ``fsdd_kws.json``
records the config, the counts per split and class, and the source. With the defaults the task has
1,290 training, 380 validation and 670 test clips; ``_unknown_`` is about 49% of each split (v2-12's
is about 60% when all its other words are kept).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio import BadAudio, read_audio, resample, unit_rms
from ..errors import SpcError
from ..fileio import first_line, read_json
from ..progress import track
from ..synth import VOICES, Espeak
from .layouts import AUDIO_EXT, FSDD_NAME, SILENCE, UNKNOWN

MANIFEST = "fsdd_kws.json"
LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
SPLIT_NAMES = ("train", "validation", "test")

#: espeak-ng words for ``_unknown_``: no digits, no number words, no homophones of them (to, for, won, ate, oh);
#: a few near misses (tree, fine, hero, heaven, fix, wine) on purpose, as Speech Commands has "tree"
ESPEAK_WORDS = (
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "bird", "cat", "dog", "happy",
    "house", "marvin", "sheila", "tree", "wow", "backward", "forward", "follow", "learn", "visual", "hello",
    "thanks", "please", "sorry", "water", "coffee", "music", "light", "door", "window", "table", "chair", "phone",
    "paper", "green", "blue", "red", "yellow", "black", "white", "open", "close", "start", "begin", "finish",
    "morning", "evening", "night", "today", "later", "never", "always", "maybe", "again", "with", "from", "the",
    "and", "but", "this", "that", "here", "there", "what", "when", "where", "why", "how", "fine", "hero", "heaven",
    "wine", "fix", "time", "name", "friend", "money", "market", "garden", "river", "mountain", "apple", "orange",
    "lemon", "bread", "cheese", "kitchen", "station", "ticket", "number", "letter", "picture", "weather",
)


@dataclass(frozen=True)
class FsddKwsConfig:
    """What the development task holds; written to ``fsdd_kws.json`` and compared there to reuse it."""

    version: int = 2
    keywords: tuple[str, ...] = ("0", "1", "2")
    #: held out for test: two voices, so that test holds 300 keyword clips (3 digits x 50 takes x 2 speakers)
    test_speakers: tuple[str, ...] = ("theo", "nicolas")
    validation_speaker: str = "jackson"
    unknown_takes: int | None = 20  # takes of each non-keyword digit per speaker in _unknown_ (None: all)
    espeak_words: int = 300  # espeak-ng clips of ESPEAK_WORDS in _unknown_, split by ``splits``
    silence: int = 300  # 1 s noise clips in _silence_, split by ``splits``
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, validation, test share of espeak words and silence
    rate: int = 16000
    seed: int = 0
    voices: tuple[str, ...] = VOICES

    def __post_init__(self) -> None:
        for name in ("keywords", "test_speakers", "splits", "voices"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        check_fsdd_kws_config(self)


def _whole(x, lo: int) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= lo


def check_fsdd_kws_config(config: FsddKwsConfig) -> None:
    """Refuse settings that cannot make the task, one line each."""
    if not _whole(config.version, 1):
        raise SpcError(f"fsdd-kws version must be a whole number >= 1; got {config.version!r}")
    if not config.keywords or not all(isinstance(k, str) and k for k in config.keywords):
        raise SpcError(f"fsdd-kws keywords must be one or more digit labels; got {config.keywords!r}")
    if len(set(config.keywords)) != len(config.keywords):
        raise SpcError(f"fsdd-kws keywords repeat: {config.keywords}")
    if any(k.startswith("_") or "/" in k or k.startswith(".") for k in config.keywords):
        raise SpcError(f"fsdd-kws keywords must be FSDD labels (digits), not {config.keywords}")
    if not isinstance(config.validation_speaker, str) or not config.validation_speaker:
        raise SpcError(f"fsdd-kws validation_speaker must be a speaker name; got {config.validation_speaker!r}")
    if not config.test_speakers or not all(isinstance(x, str) and x for x in config.test_speakers):
        raise SpcError(f"fsdd-kws test_speakers must be one or more speaker names; got {config.test_speakers!r}")
    if len(set(config.test_speakers)) != len(config.test_speakers):
        raise SpcError(f"fsdd-kws test speakers repeat: {config.test_speakers}")
    if config.validation_speaker in config.test_speakers:
        raise SpcError(f"fsdd-kws test and validation speakers must differ; '{config.validation_speaker}' is both")
    if config.unknown_takes is not None and not _whole(config.unknown_takes, 0):
        raise SpcError(f"fsdd-kws unknown_takes must be a whole number >= 0 or None (all); got {config.unknown_takes!r}")
    for name in ("espeak_words", "silence"):
        if not _whole(getattr(config, name), 0) or getattr(config, name) > 100000:
            raise SpcError(f"fsdd-kws {name} must be a whole number in [0, 100000]; got {getattr(config, name)!r}")
    s = config.splits
    if (len(s) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
                               for v in s) or abs(sum(s) - 1) > 1e-6):
        raise SpcError(f"fsdd-kws splits must be three shares >= 0 (train, validation, test) summing to 1; got {s}")
    if not _whole(config.rate, 8000) or config.rate > 192000:
        raise SpcError(f"fsdd-kws rate must be a whole number of Hz in [8000, 192000]; got {config.rate!r}")
    if not _whole(config.seed, 0):
        raise SpcError(f"fsdd-kws seed must be a whole number >= 0; got {config.seed!r}")
    if config.espeak_words and (not config.voices or not all(isinstance(v, str) and v for v in config.voices)):
        raise SpcError(f"fsdd-kws voices must be espeak-ng voice names; got {config.voices!r}")


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Job:
    """One clip to write: where, which class and split, and from what (an FSDD file, an espeak word, a noise)."""

    rel: str
    label: str
    split: str
    source: str  # an FSDD path, an espeak word, or a noise kind


def fsdd_recordings(fsdd_root: str | Path) -> list[tuple[Path, str, str, int]]:
    """(file, digit, speaker, take) of every FSDD-named clip in ``fsdd_root`` or its ``recordings`` folder."""
    root = Path(fsdd_root)
    if not root.is_dir():
        raise SpcError(f"FSDD folder {root} does not exist" if not root.exists() else f"FSDD {root} is not a folder")
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    rows = []
    for f in sorted(folder.iterdir()):
        m = FSDD_NAME.match(f.stem)
        if f.is_file() and f.suffix.lower() in AUDIO_EXT and m:
            rows.append((f, m["label"], m["speaker"], int(m["take"])))
    if not rows:
        raise SpcError(f"{folder} has no files named like {{digit}}_{{speaker}}_{{take}}.wav (FSDD)")
    return rows


def split_of_share(k: int, n: int, shares: tuple[float, float, float]) -> str:
    """The split of item ``k`` of ``n`` cut in ``shares`` (train first, then validation, then test)."""
    frac = k / n
    return "train" if frac < shares[0] else "validation" if frac < shares[0] + shares[1] else "test"


def plan_jobs(rows: list[tuple[Path, str, str, int]], config: FsddKwsConfig) -> list[Job]:
    """Every clip of the task: keywords, capped unknown digits, espeak words and noise, each with its split."""
    labels = sorted({r[1] for r in rows})
    speakers = sorted({r[2] for r in rows})
    missing = [k for k in config.keywords if k not in labels]
    if missing:
        raise SpcError(f"keywords {missing} are not FSDD labels; labels: {', '.join(labels)}")
    for what, name in [("test speaker", x) for x in config.test_speakers] + [("validation speaker",
                                                                             config.validation_speaker)]:
        if name not in speakers:
            raise SpcError(f"{what} '{name}' is not in the FSDD folder; speakers: {', '.join(speakers)}")
    if len(speakers) < len(config.test_speakers) + 2:
        raise SpcError(f"a speaker split needs a training speaker besides {len(config.test_speakers)} test and one "
                       f"validation speaker; found {', '.join(speakers)}")
    split_of = {**{x: "test" for x in config.test_speakers}, config.validation_speaker: "validation"}
    rng = np.random.default_rng([config.seed, 1])
    groups: dict[tuple[str, str], list[tuple[Path, int]]] = {}
    for f, label, speaker, take in rows:
        groups.setdefault((label, speaker), []).append((f, take))
    jobs = []
    for (label, speaker), takes in sorted(groups.items()):
        takes = sorted(takes, key=lambda t: t[1])
        keyword = label in config.keywords
        if not keyword and config.unknown_takes is not None and len(takes) > config.unknown_takes:
            keep = np.sort(rng.choice(len(takes), config.unknown_takes, replace=False))
            takes = [takes[int(i)] for i in keep]
        for f, _ in takes:
            folder = label if keyword else UNKNOWN
            jobs.append(Job(f"{folder}/{f.stem}.wav", folder, split_of.get(speaker, "train"), str(f)))
    words = [w for w in ESPEAK_WORDS if w not in config.keywords]
    for k in range(config.espeak_words):
        word = words[int(rng.integers(len(words)))]
        jobs.append(Job(f"{UNKNOWN}/espeak_{k:04d}_{word}.wav", UNKNOWN, split_of_share(k, config.espeak_words, config.splits),
                        word))
    kinds = ("white", "pink", "room")
    for k in range(config.silence):
        jobs.append(Job(f"{SILENCE}/noise_{k:04d}.wav", SILENCE, split_of_share(k, config.silence, config.splits),
                        kinds[int(rng.integers(len(kinds)))]))
    return jobs


# ------------------------------------------------------------------ making clips
def noise_clip(kind: str, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``kind`` noise: white or pink at -60 to -25 dB RMS, or room tone (low rumble, hum) below -55 dB."""
    from scipy.signal import lfilter

    from ..streaming.mixing import coloured_noise

    if kind == "white":
        return (10 ** (rng.uniform(-60, -25) / 20) * rng.standard_normal(n)).astype(np.float32)
    if kind == "pink":
        return 10 ** (rng.uniform(-60, -25) / 20) * coloured_noise(n, "pink", rng)
    rumble = lfilter([1.0], [1.0, -0.98], rng.standard_normal(n + 4000))[4000:]
    x = 10 ** (rng.uniform(-75, -55) / 20) * unit_rms(rumble)
    if rng.random() < 0.5:  # mains hum and its harmonics
        t, f0 = np.arange(n) / rate, (50.0, 60.0)[int(rng.integers(2))]
        x = x + sum(10 ** (rng.uniform(-85, -65) / 20) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
                    for h in (1, 2, 3))
    return x.astype(np.float32)


def espeak_clip(engine: Espeak, word: str, config: FsddKwsConfig, rng: np.random.Generator) -> np.ndarray:
    """One word in a random voice, rate, pitch and level, with 50-200 ms of faint noise on either side."""
    voice = config.voices[int(rng.integers(len(config.voices)))]
    speech = resample(engine.say(word, voice, int(rng.integers(120, 221)), int(rng.integers(25, 76))), engine.rate,
                      config.rate)
    speech = speech[: int(1.5 * config.rate)]
    if not len(speech):
        raise SpcError(f"espeak-ng said nothing for '{word}' in voice '{voice}'")
    speech = speech * (10 ** (rng.uniform(-25, -2) / 20) / max(float(np.abs(speech).max()), 1e-6))
    pad = [int(rng.uniform(0.05, 0.2) * config.rate) for _ in range(2)]
    x = np.concatenate([np.zeros(pad[0], np.float32), speech, np.zeros(pad[1], np.float32)])
    return (x + 10 ** (rng.uniform(-65, -45) / 20) * rng.standard_normal(len(x))).astype(np.float32)


def clip_audio(job: Job, config: FsddKwsConfig, engine: Espeak | None, rng: np.random.Generator) -> np.ndarray:
    """The samples of one job at ``config.rate``; an unreadable FSDD file is a one-line error naming it."""
    if job.rel.startswith(f"{SILENCE}/"):
        return noise_clip(job.source, config.rate, config.rate, rng)
    if job.rel.startswith(f"{UNKNOWN}/espeak_"):
        return espeak_clip(engine, job.source, config, rng)
    try:
        return read_audio(job.source, config.rate)
    except BadAudio as exc:
        raise SpcError(f"FSDD file {job.source}: {first_line(exc)}") from None


def counts_of(jobs: list[Job], classes: list[str]) -> dict[str, dict[str, int]]:
    """Clips per split and class."""
    c = Counter((j.split, j.label) for j in jobs)
    return {s: {label: c[(s, label)] for label in classes} for s in SPLIT_NAMES}


# ------------------------------------------------------------------ the folder
def _read_manifest(dest: Path) -> dict | None:
    """The task's manifest, or None where it is missing or damaged (the task is then made again)."""
    try:
        return read_json(dest / MANIFEST, "keyword task manifest")
    except SpcError:
        return None


def _is_complete(dest: Path, config: FsddKwsConfig) -> bool:
    """True where ``dest`` holds a finished task made with this config: manifest, lists and every class's clips."""
    data = _read_manifest(dest)
    if data is None or data.get("config") != json.loads(json.dumps(asdict(config))):
        return False
    if not all((dest / name).is_file() for name in LISTS.values()):
        return False
    per_class = Counter()
    for split_counts in (data.get("counts") or {}).values():
        per_class.update(split_counts)
    for label, n in per_class.items():
        folder = dest / label
        if not folder.is_dir() or sum(1 for p in folder.iterdir() if p.suffix == ".wav") != n:
            return False
    return bool(per_class)


def _prepare_dest(dest: Path, labels: set[str]) -> set[str]:
    """Create ``dest``; refuse one holding files not made here; remove what an interrupted run left; old names.

    Made here: the manifest, the lists, the classes an earlier manifest names, and any FSDD label or
    ``_unknown_``/``_silence_`` folder (what a run interrupted while moving its folders leaves).
    """
    if dest.exists() and not dest.is_dir():
        raise SpcError(f"fsdd-kws output {dest} is a file, not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    data = _read_manifest(dest) or {}
    owned = {MANIFEST, *LISTS.values(), *(str(c) for c in data.get("classes") or []), *labels, UNKNOWN, SILENCE}
    for entry in dest.iterdir():
        if entry.name.startswith(".tmp-fsdd-kws-") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)  # left by an interrupted run
        elif entry.name not in owned:
            raise SpcError(f"fsdd-kws output {dest} holds other files ({entry.name}): choose an empty folder")
    return owned - {MANIFEST}


def _publish(tmp: Path, dest: Path, names: list[str], old: set[str]) -> None:
    """Move the finished task from ``tmp`` into ``dest``: old manifest out first, new manifest in last."""
    (dest / MANIFEST).unlink(missing_ok=True)  # from here until the end, dest does not look complete
    for name in old | set(names):
        path = dest / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for name in names:
        os.replace(tmp / name, dest / name)
    os.replace(tmp / MANIFEST, dest / MANIFEST)


def make_fsdd_kws(fsdd_root: str | Path, dest: str | Path, config: FsddKwsConfig = FsddKwsConfig(),
                  show_progress: bool = True) -> Path:
    """Write the FSDD keyword task to ``dest`` in the Speech Commands folder form (see the module); returns ``dest``.

    An existing complete task with the same config is kept. Clips are written into a hidden temporary
    folder inside ``dest`` and moved into place when all are done, the manifest last. Choices are seeded;
    espeak-ng's own output is not bit-reproducible between processes (see ``spc.synth``).
    """
    import soundfile as sf

    dest = Path(dest)
    if _is_complete(dest, config):
        return dest
    rows = fsdd_recordings(fsdd_root)
    jobs = plan_jobs(rows, config)
    old = _prepare_dest(dest, {r[1] for r in rows})
    engine = Espeak() if config.espeak_words else None
    classes = [*config.keywords, UNKNOWN, SILENCE]
    rng = np.random.default_rng([config.seed, 2])
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-fsdd-kws-", dir=dest))
    try:
        for label in classes:
            (tmp / label).mkdir()
        for job in track(jobs, "writing the FSDD keyword task", show=show_progress):
            x = clip_audio(job, config, engine, rng)
            sf.write(str(tmp / job.rel), np.clip(x, -1.0, 1.0), config.rate, subtype="PCM_16")
        for split, name in LISTS.items():
            (tmp / name).write_text("".join(f"{j.rel}\n" for j in sorted(jobs, key=lambda j: j.rel) if j.split == split))
        counts = counts_of(jobs, classes)
        manifest = {
            "version": config.version, "config": asdict(config), "layout": "speech-commands (v2-12-like)",
            "classes": classes, "rate": config.rate, "counts": counts,
            "totals": {s: sum(c.values()) for s, c in counts.items()},
            "unknown_share": {s: round(c[UNKNOWN] / max(1, sum(c.values())), 4) for s, c in counts.items()},
            "speakers": {s: sorted({Path(j.source).stem.split("_")[1] for j in jobs if j.split == s
                                    and j.label != SILENCE and "/espeak_" not in j.rel}) for s in SPLIT_NAMES},
            "unknown_sources": {s: {"fsdd_digits": sum(j.split == s and j.label == UNKNOWN and "/espeak_" not in j.rel
                                                       for j in jobs),
                                    "espeak_words": sum(j.split == s and "/espeak_" in j.rel for j in jobs)}
                                for s in SPLIT_NAMES},
            "source": {"dataset": "Free Spoken Digit Dataset (FSDD), CC BY-SA 4.0", "root": str(Path(fsdd_root).resolve()),
                       "files": len(rows), "speakers": sorted({r[2] for r in rows}), "engine": "espeak-ng"},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _publish(tmp, dest, [*classes, *LISTS.values()], old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
