"""Negative audio for false accepts per hour: hours of speech that never says a keyword.

A streaming evaluation that builds its recordings from a test split holds only minutes of non-keyword
audio, so a single false accept moves the rate by tens per hour. ``make_negative_audio`` speaks hours
of random sentences offline with espeak-ng (a built-in vocabulary of common English words, minus the
keywords, their homophones and any word holding a keyword as a whole token), in many voices, rates and
pitches, with short pauses, over white or pink noise at varying levels, and writes them as long WAV
files plus ``negatives.json``. Each sentence's active-speech level stands at an SNR drawn from ``snr_db`` above
the background noise (constant level ``noise_db``, in scenes of white, pink and brown noise), the same range the
clip streams use, so that negative and keyword audio are compared like with like (``spc.streaming.mixing``).
``read_negatives`` reads a user's own long recordings instead (as they are).

Measured on this project's 2-core development machine: espeak-ng (22,050 Hz) speaks random sentences
about 1,400 times faster than real time (5 s of synthesis for 2 hours); with resampling, noise and
writing, 2 hours take about 12 s (6 s per hour of audio; 23 s with the cores busy), so every sentence
is spoken afresh and no pool is reused. (Pink noise is filtered, not made by an FFT: numpy's FFT of a
10-minute file of awkward length took most of the time.)
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..audio import BadAudio, read_audio, resample
from ..errors import SpcError
from ..fileio import first_line, read_json, sha256_file
from ..console import warn
from ..progress import track
from ..synth import VOICES, Espeak
from .mixing import COLOURS, NOISE_DB, SNR_DB, gain_for_snr, noise_scenes
from .streams import NegativeFile

MANIFEST = "negatives.json"
AUDIO_EXT = (".wav", ".flac", ".ogg")
_FILE_NAME = re.compile(r"^negatives_\d{3}\.wav$")
_TOKEN = re.compile(r"[a-z0-9']+")
BLOCK_SECONDS = 60.0  # speech is made and resampled in blocks of about this length (one progress step each)

#: digit labels (FSDD) and the words that say them
DIGIT_WORDS = {"0": ("zero", "oh"), "1": ("one",), "2": ("two",), "3": ("three",), "4": ("four",), "5": ("five",),
               "6": ("six",), "7": ("seven",), "8": ("eight",), "9": ("nine",)}
#: words that sound like a keyword: excluded with it (a spotter firing on them is not wrong)
HOMOPHONES = {"one": ("won",), "two": ("to", "too"), "four": ("for", "fore"), "eight": ("ate",), "no": ("know",),
              "right": ("write", "rite", "wright"), "zero": ("oh",), "oh": ("owe",)}

#: common English words (a few with hyphens or apostrophes): the built-in vocabulary of the sentences
VOCABULARY: tuple[str, ...] = tuple(dict.fromkeys("""
the a an and or but if then so because while when where what which who whom whose why how this that these those
here there now today tomorrow yesterday always never often sometimes usually again already still just only also
very quite rather really almost enough too much many more most less few some any every each all both either neither
I you he she it we they me him her us them my your his its our their mine yours myself yourself
be is are was were been being have has had do does did will would can could shall should may might must
to of in on at by for with from into onto over under above below between behind beside near far inside outside
about after before during without within through across along around against toward upon off up down out away
time year day week month morning evening night hour minute moment life world house home room door window table chair
bed kitchen garden street road city town village country river lake sea mountain forest field tree flower grass
water fire air earth stone sand rain snow wind sun moon star sky cloud light shadow colour sound voice music song
book page letter word story name number picture paper pen box bag cup glass plate bottle bread butter cheese milk
coffee tea sugar salt apple orange lemon potato tomato carrot rice soup meat fish chicken egg cake dinner lunch breakfast
man woman child boy girl baby friend family mother father sister brother son daughter uncle aunt neighbour teacher
doctor student driver farmer worker people person group team company office school market shop station hospital
car bus train plane boat bicycle ticket money price bill card phone computer screen machine engine wheel key
question answer problem idea reason plan way part piece side end beginning middle edge corner line point place
dog cat horse cow sheep bird duck mouse rabbit bear lion tiger monkey snake bee butterfly
red blue green yellow black white brown grey pink purple golden silver
big small large little long short tall high low wide narrow deep thick thin heavy light fast slow quick early late
good bad better best worse worst new old young fresh clean dirty hot cold warm cool dry wet soft hard easy difficult
happy sad angry tired hungry busy quiet loud bright dark strong weak rich poor cheap expensive beautiful ugly kind
simple strange funny serious careful important possible ready sure true free full empty open closed
make take give get put keep let bring carry send find lose show tell say speak talk ask call answer listen hear
see look watch read write draw sing play work study learn teach think know believe remember forget understand
want need like love hate hope wish feel seem become begin start finish end try help use buy sell pay cost spend
come leave arrive return walk run jump climb swim fly drive ride sit stand lie sleep wake eat drink cook wash
build break cut open close turn move change grow fall rise sit wait stay live die meet follow lead win
carefully quickly slowly quietly suddenly finally probably perhaps maybe certainly together alone
hello thanks please sorry okay well-known follow-up check-in know-how sign-up don't can't won't it's I'm
""".split()))


@dataclass(frozen=True)
class NegativesConfig:
    """How the negative audio is made; written to ``negatives.json`` and compared there to reuse it."""

    version: int = 2
    hours: float = 10.0
    rate: int = 16000
    seed: int = 0
    voices: tuple[str, ...] = VOICES
    words_per_minute: tuple[int, int] = (120, 230)  # espeak-ng speaking rate
    pitch: tuple[int, int] = (20, 80)  # espeak-ng pitch, 0 to 99
    snr_db: tuple[float, float] = SNR_DB  # each sentence's active-speech level above the noise, dB
    noise_db: float = NOISE_DB  # background noise RMS, dB re full scale
    colours: tuple[str, ...] = COLOURS  # the noise scenes' colours
    sentence_words: tuple[int, int] = (4, 14)
    pause_seconds: tuple[float, float] = (0.3, 1.5)
    file_minutes: float = 10.0
    excluded_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("voices", "words_per_minute", "pitch", "snr_db", "colours", "sentence_words",
                     "pause_seconds", "excluded_words"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        check_negatives_config(self)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(float(x))


def _check_range(config: NegativesConfig, name: str, lo: float, hi: float, integer: bool = False) -> None:
    """One user error unless ``config.name`` is a (min, max) pair of finite numbers with lo <= min <= max <= hi."""
    pair = getattr(config, name)
    ok = len(pair) == 2 and all(_is_number(v) and (not integer or float(v).is_integer()) for v in pair)
    if not ok or not lo <= pair[0] <= pair[1] <= hi:
        kind = "whole numbers" if integer else "numbers"
        raise SpcError(f"negatives {name} must be two {kind} min <= max within [{lo:g}, {hi:g}]; got {pair}")


def check_negatives_config(config: NegativesConfig) -> None:
    """Refuse settings that cannot make audio, one line each, before any synthesis."""
    if config.version != NegativesConfig.version:
        raise SpcError(f"negatives version must be {NegativesConfig.version} (this spc's); got {config.version!r}")
    if not _is_number(config.hours) or not 0 < config.hours <= 1000:
        raise SpcError(f"negatives hours must be a finite number in (0, 1000]; got {config.hours!r}")
    if not isinstance(config.rate, int) or isinstance(config.rate, bool) or not 8000 <= config.rate <= 192000:
        raise SpcError(f"negatives rate must be a whole number of Hz in [8000, 192000]; got {config.rate!r}")
    if not isinstance(config.seed, int) or isinstance(config.seed, bool) or config.seed < 0:
        raise SpcError(f"negatives seed must be a whole number >= 0; got {config.seed!r}")
    if not config.voices or not all(isinstance(v, str) and v.strip() for v in config.voices):
        raise SpcError(f"negatives voices must be a non-empty list of espeak-ng voice names; got {config.voices!r}")
    _check_range(config, "words_per_minute", 80, 450, integer=True)
    _check_range(config, "pitch", 0, 99, integer=True)
    _check_range(config, "snr_db", -20, 60)
    if not _is_number(config.noise_db) or not -90 <= config.noise_db <= -10:
        raise SpcError(f"negatives noise_db must be a finite number in [-90, -10] dBFS; got {config.noise_db!r}")
    if not config.colours or not set(config.colours) <= set(COLOURS):
        raise SpcError(f"negatives colours must be some of {', '.join(COLOURS)}; got {config.colours!r}")
    _check_range(config, "sentence_words", 1, 100, integer=True)
    _check_range(config, "pause_seconds", 0, 30)
    if not _is_number(config.file_minutes) or not 0.1 <= config.file_minutes <= 600:
        raise SpcError(f"negatives file_minutes must be a finite number in [0.1, 600]; got {config.file_minutes!r}")
    if not all(isinstance(w, str) for w in config.excluded_words):
        raise SpcError(f"negatives excluded_words must be words (text); got {config.excluded_words!r}")


# ------------------------------------------------------------------ words and sentences
def tokens(text: str) -> list[str]:
    """The lower-case word tokens of ``text`` (hyphens and spaces separate them, apostrophes do not)."""
    return _TOKEN.findall(text.lower())


def excluded_tokens(words: Iterable[str]) -> frozenset[str]:
    """Every token the sentences must avoid: each word's tokens, digits as their words, and their homophones."""
    out: set[str] = set()
    for word in words:
        for tok in tokens(word):
            said = DIGIT_WORDS.get(tok, (tok,)) if tok.isdigit() else (tok,)
            for t in said:
                out.add(t)
                out.update(HOMOPHONES.get(t, ()))
    return frozenset(out)


def vocabulary(excluded: Iterable[str] = (), words: Sequence[str] = VOCABULARY) -> tuple[str, ...]:
    """The words sentences are built from: ``words`` less every entry holding an excluded token."""
    banned = excluded_tokens(excluded)
    kept = tuple(dict.fromkeys(w for w in words if not banned.intersection(tokens(w))))
    if len(kept) < 20:
        raise SpcError(f"only {len(kept)} words are left for the negative audio once {sorted(banned)} are excluded")
    return kept


def make_sentence(rng: np.random.Generator, words: Sequence[str], length: tuple[int, int]) -> str:
    """A random sentence of ``length`` (min, max) words from ``words``, capitalised, with a full stop."""
    n = int(rng.integers(length[0], length[1] + 1))
    picked = [words[int(i)] for i in rng.integers(0, len(words), n)]
    if n > 6 and rng.random() < 0.5:
        picked[int(rng.integers(2, n - 2))] += ","
    text = " ".join(picked)
    return text[0].upper() + text[1:] + ("?" if rng.random() < 0.15 else ".")


def make_sentences(seed: int, words: Sequence[str], length: tuple[int, int], n: int) -> list[str]:
    """``n`` seeded random sentences (what ``make_negative_audio`` would speak first with this seed)."""
    rng = np.random.default_rng(seed)
    return [make_sentence(rng, words, length) for _ in range(n)]


# ------------------------------------------------------------------ audio
def speak_block(engine: Espeak, rng: np.random.Generator, words: Sequence[str], config: NegativesConfig,
                seconds: float) -> np.ndarray:
    """At least ``seconds`` of sentences (each its own voice, rate, pitch and SNR over the noise to come) with pauses,
    at ``config.rate``."""
    parts, have, need = [], 0, seconds * engine.rate
    while have < need:
        pause = np.zeros(int(rng.uniform(*config.pause_seconds) * engine.rate), np.float32)
        voice = config.voices[int(rng.integers(len(config.voices)))]
        speech = engine.say(make_sentence(rng, words, config.sentence_words), voice,
                            int(rng.integers(config.words_per_minute[0], config.words_per_minute[1] + 1)),
                            int(rng.integers(config.pitch[0], config.pitch[1] + 1)))
        speech = speech * gain_for_snr(speech, engine.rate, 10 ** (config.noise_db / 20), rng.uniform(*config.snr_db))
        parts += [pause, speech.astype(np.float32)]
        have += len(pause) + len(speech)
    parts.append(np.zeros(int(0.05 * engine.rate), np.float32))  # blocks end in silence: they join without a seam
    return resample(np.concatenate(parts), engine.rate, config.rate)


def file_seconds(config: NegativesConfig) -> list[float]:
    """The length of each output file: ``file_minutes`` each, the last one shorter; they sum to ``hours``."""
    total, each = config.hours * 3600, config.file_minutes * 60
    n = max(1, math.ceil(total / each - 1e-9))
    return [each] * (n - 1) + [total - each * (n - 1)]


# ------------------------------------------------------------------ the folder
def _manifest_matches(dest: Path, config: NegativesConfig, excluded: list[str]) -> bool:
    """True where ``dest`` holds a complete set made with this config and these excluded words."""
    path = dest / MANIFEST
    try:
        data = read_json(path, "negative audio manifest")
    except SpcError:  # missing or damaged: made again
        return False
    if data.get("config") != _json(asdict(config)) or data.get("excluded_words") != excluded:
        return False
    files = data.get("files")
    if not isinstance(files, list) or not files:
        return False
    for f in files:
        p = dest / str(f.get("name", "")) if isinstance(f, dict) else None
        if p is None or not p.is_file() or p.stat().st_size != f.get("bytes"):
            return False
        if sha256_file(p) != f.get("sha256"):  # a file of the right size with other bytes (zeroed, replaced)
            warn(f"negative audio {p} does not match its sha256 in {MANIFEST}: the set is made again")
            return False
    return True


def _json(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _owned_names(dest: Path) -> set[str]:
    """Entries of ``dest`` that an earlier ``make_negative_audio`` wrote (its manifest's files and the manifest)."""
    owned = {MANIFEST}
    try:
        data = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
        owned |= {str(f["name"]) for f in data.get("files", []) if isinstance(f, dict) and "name" in f}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, KeyError):
        pass
    return owned


def _prepare_dest(dest: Path) -> None:
    """Create ``dest``; refuse one holding files not made here; remove what an interrupted run left."""
    if dest.exists() and not dest.is_dir():
        raise SpcError(f"negatives output {dest} is a file, not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    owned = _owned_names(dest)
    for entry in dest.iterdir():
        if entry.name.startswith(".tmp-negatives-") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)  # left by an interrupted run
        elif entry.name not in owned and not _FILE_NAME.match(entry.name):
            raise SpcError(f"negatives output {dest} holds other files ({entry.name}): choose an empty folder")


def _publish(tmp: Path, dest: Path, names: list[str]) -> None:
    """Move the finished files from ``tmp`` into ``dest``: old manifest out first, new manifest in last."""
    old = _owned_names(dest) - {MANIFEST}
    (dest / MANIFEST).unlink(missing_ok=True)  # from here until the end, dest does not look complete
    for name in old - set(names):
        (dest / name).unlink(missing_ok=True)
    for stale in dest.iterdir():
        if _FILE_NAME.match(stale.name) and stale.name not in names:
            stale.unlink()
    for name in names:
        os.replace(tmp / name, dest / name)
    os.replace(tmp / MANIFEST, dest / MANIFEST)


def check_voices(engine: Espeak, voices: Sequence[str]) -> None:
    """Speak one word in every voice, so that a wrong name fails now rather than an hour in."""
    for voice in voices:
        engine.say("hello", voice, 175, 50)


def make_negative_audio(dest_dir: str | Path, config: NegativesConfig = NegativesConfig(),
                        exclude_words: Iterable[str] = (), show_progress: bool = True) -> Path:
    """Write ``config.hours`` of keyword-free speech over noise to ``dest_dir`` (``negatives_NNN.wav``, ``negatives.json``).

    The excluded words are ``config.excluded_words`` plus ``exclude_words`` (the keywords; digits count as
    their words). An existing complete set with the same config and excluded words is kept as it is. Files
    are written into a hidden temporary folder inside ``dest_dir`` and moved into place when all are done,
    the manifest last, so an interrupted run leaves nothing that looks complete. Choices are seeded; espeak-ng's
    own output is not bit-reproducible between processes (see ``spc.synth``).
    """
    import soundfile as sf

    dest = Path(dest_dir)
    excluded = sorted({*config.excluded_words, *exclude_words})
    if not all(isinstance(w, str) for w in excluded):
        raise SpcError(f"excluded words must be text; got {excluded!r}")
    if _manifest_matches(dest, config, excluded):
        return dest
    words = vocabulary(excluded)
    _prepare_dest(dest)
    engine = Espeak()
    check_voices(engine, config.voices)
    lengths = file_seconds(config)
    jobs = [(i, min((j + 1) * BLOCK_SECONDS, s)) for i, s in enumerate(lengths)
            for j in range(max(1, math.ceil(s / BLOCK_SECONDS - 1e-9)))]
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-negatives-", dir=dest))
    try:
        files, blocks, have, rng = [], [], 0, None
        for n_job, (i, until) in enumerate(track(jobs, "speaking negative audio", show=show_progress)):
            if rng is None:
                rng, blocks, have = np.random.default_rng([config.seed, i]), [], 0
            need = until - have / config.rate
            if need > 0:
                block = speak_block(engine, rng, words, config, need)
                blocks.append(block)
                have += len(block)
            if n_job + 1 == len(jobs) or jobs[n_job + 1][0] != i:  # the file's last block: mix and write it
                files.append(_write_file(tmp, i, np.concatenate(blocks), lengths[i], config, rng, sf))
                rng = None
        manifest = {"version": config.version, "config": asdict(config), "excluded_words": excluded,
                    "excluded_tokens": sorted(excluded_tokens(excluded)), "vocabulary_words": len(words),
                    "seconds": round(sum(f["seconds"] for f in files), 6), "hours": round(config.hours, 6),
                    "rate": config.rate, "files": files, "engine": "espeak-ng"}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _publish(tmp, dest, [f["name"] for f in files])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _write_file(tmp: Path, index: int, speech: np.ndarray, seconds: float, config: NegativesConfig,
                rng: np.random.Generator, sf) -> dict:
    """Crop speech to ``seconds``, add background noise, write PCM_16; the manifest entry of the file."""
    n = int(round(seconds * config.rate))
    x = np.zeros(n, np.float32)
    x[: min(n, len(speech))] = speech[:n]
    x += noise_scenes(n, config.rate, rng, config.colours)[0] * np.float32(10 ** (config.noise_db / 20))
    name = f"negatives_{index:03d}.wav"
    sf.write(str(tmp / name), np.clip(x, -1.0, 1.0), config.rate, subtype="PCM_16")
    return {"name": name, "seconds": round(n / config.rate, 6), "bytes": (tmp / name).stat().st_size,
            "sha256": sha256_file(tmp / name)}


# ------------------------------------------------------------------ reading negatives
def negative_files(dir_or_files: str | Path | Sequence[str | Path]) -> list[Path]:
    """The audio files (.wav, .flac, .ogg) of a folder (recursively, hidden entries skipped), a file or a list."""
    items = [dir_or_files] if isinstance(dir_or_files, (str, os.PathLike)) else list(dir_or_files)
    if not items:
        raise SpcError("no negative audio given")
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            inside = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXT
                            and not any(part.startswith(".") for part in p.relative_to(item).parts))
            if not inside:
                raise SpcError(f"negatives folder {item} holds no audio files ({', '.join(AUDIO_EXT)})")
            found += inside
        elif item.is_file():
            found.append(item)
        else:
            raise SpcError(f"negative audio {item} does not exist")
    return found


def read_negatives(dir_or_files: str | Path | Sequence[str | Path], rate: int,
                   show_progress: bool = False) -> list[np.ndarray]:
    """Every negative recording as mono float32 at ``rate``; a bad file is a one-line error naming it."""
    out = []
    for path in track(negative_files(dir_or_files), "reading negative audio", show=show_progress):
        try:
            out.append(read_audio(path, rate))
        except BadAudio as exc:
            raise SpcError(f"negative audio {path}: {first_line(exc)}") from None
    return out


def negative_hours(arrays: Sequence[np.ndarray], rate: int) -> float:
    """Hours of audio in ``arrays`` at ``rate``."""
    return sum(len(a) for a in arrays) / float(rate) / 3600.0


def fa_resolution(hours: float) -> float:
    """False accepts per hour that one false accept adds (1 / hours): the finest FA rate the audio can show."""
    if not _is_number(hours) or hours <= 0:
        raise SpcError(f"false accepts per hour need some negative audio; got {hours!r} hours")
    return 1.0 / float(hours)


def negative_sources(rate: int, *, folder: str | Path | None = None, hours: float = 0.0, cache: Path | None = None,
                     exclude_words: Iterable[str] = (), seed: int = 0, snr_db: tuple[float, float] = SNR_DB,
                     noise_db: float = NOISE_DB, show_progress: bool = False) -> tuple[list[NegativeFile], str | None]:
    """(long keyword-free recordings on disk, what they are): the user's ``folder`` where given (as it is), else
    ``hours`` of espeak-ng sentences at ``snr_db`` over noise at ``noise_db`` without ``exclude_words``, made into
    ``cache`` (kept there, each file checked against its sha256 when reused), else none. Nothing is read into
    memory: streams read each piece when it is scored."""
    import soundfile as sf

    if folder is not None:
        files = []
        for path in track(negative_files(folder), "checking negative audio", show=show_progress):
            try:
                seconds = float(sf.info(str(path)).duration)
            except (RuntimeError, OSError) as exc:  # soundfile: not audio, truncated
                raise SpcError(f"negative audio {path}: {first_line(exc)}") from None
            if seconds * rate < rate * 0.1:
                warn(f"negative audio {path} is shorter than 0.1 s: left out")
                continue
            files.append(NegativeFile(str(path), seconds, sha256_file(path), "user"))
        return files, f"your recordings in {folder}"
    if hours <= 0:
        return [], None
    if cache is None:
        raise SpcError("made negative audio needs a folder to keep it in")
    config = NegativesConfig(hours=hours, seed=seed, rate=rate, snr_db=snr_db, noise_db=noise_db)
    make_negative_audio(cache, config, exclude_words=exclude_words, show_progress=show_progress)
    made = read_json(cache / MANIFEST, "negative audio manifest")
    files = [NegativeFile(str(cache / f["name"]), float(f["seconds"]), str(f["sha256"]), "espeak-ng")
             for f in made["files"]]
    return files, f"espeak-ng sentences at {snr_db[0]:g}-{snr_db[1]:g} dB SNR over noise, {hours:g} h, seed {seed}"


def negative_audio(rate: int, **kw) -> tuple[list[np.ndarray], str | None]:
    """(the negative recordings of ``negative_sources(rate, **kw)`` read into memory, what they are): what the
    training windows are cut from."""
    files, source = negative_sources(rate, **kw)
    return [read_audio(f.path, rate) for f in files], source
