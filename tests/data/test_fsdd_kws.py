"""The FSDD development task in the Speech Commands folder form: classes, speaker split, lists, rates, cache."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import require_fsdd, write_wav
from spc.data import fsdd_kws
from spc.data.fsdd_kws import ESPEAK_WORDS, FsddKwsConfig, make_fsdd_kws
from spc.errors import SpcError
from spc.streaming.negatives import DIGIT_WORDS, HOMOPHONES

SPEAKERS = ("alice", "bob", "jackson", "theo")
DIGITS, TAKES = ("0", "1", "2", "3", "4"), 3
TINY = FsddKwsConfig(keywords=("0", "1"), test_speakers=("theo",), unknown_takes=2, espeak_words=20, silence=20)


@pytest.fixture(scope="module")
def fake_fsdd(tmp_path_factory) -> Path:
    """A fake FSDD: 8 kHz noise clips ``{digit}_{speaker}_{take}.wav`` for 4 speakers, 5 digits, 3 takes."""
    root = tmp_path_factory.mktemp("fsdd")
    rng = np.random.default_rng(0)
    for d in DIGITS:
        for s in SPEAKERS:
            for t in range(TAKES):
                n = int(8000 * rng.uniform(0.3, 0.6))
                write_wav(root / "recordings" / f"{d}_{s}_{t}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32),
                          rate=8000)
    (root / "README.md").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def task(fake_fsdd, tmp_path_factory) -> Path:
    return make_fsdd_kws(fake_fsdd, tmp_path_factory.mktemp("out") / "kws", TINY, show_progress=False)


def clips(root: Path) -> list[str]:
    """Every clip of the task as a relative path."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))


def lists(root: Path) -> dict[str, list[str]]:
    return {s: (root / f).read_text().splitlines() for s, f in (("validation", "validation_list.txt"),
                                                                  ("test", "testing_list.txt"))}


def split_of(root: Path) -> dict[str, str]:
    """Each clip's split, by the lists (train: in neither)."""
    listed = lists(root)
    return {c: "validation" if c in listed["validation"] else "test" if c in listed["test"] else "train"
            for c in clips(root)}


def test_folder_form(task):
    assert sorted(p.name for p in task.iterdir()) == ["0", "1", "_silence_", "_unknown_", "fsdd_kws.json",
                                                       "testing_list.txt", "validation_list.txt"]
    assert not [p for p in task.rglob("*") if p.name.startswith(".")]


def test_lists_name_only_existing_clips_once(task):
    listed = lists(task)
    every = set(clips(task))
    for split, rels in listed.items():
        assert rels and len(rels) == len(set(rels)), split
        assert set(rels) <= every, split
        assert all(not r.startswith("/") and r.count("/") == 1 for r in rels)
    assert not set(listed["validation"]) & set(listed["test"])


def test_speakers_per_split_and_classes(task):
    splits = split_of(task)
    for rel, split in splits.items():
        folder, name = rel.split("/")
        if folder == "_silence_":
            assert name.startswith("noise_")
            continue
        if name.startswith("espeak_"):
            assert folder == "_unknown_"
            word = name[:-4].split("_", 2)[2]
            assert word in ESPEAK_WORDS and word not in {w for ws in DIGIT_WORDS.values() for w in ws}
            continue
        digit, speaker, _ = name[:-4].split("_")
        want = {"theo": "test", "jackson": "validation"}.get(speaker, "train")
        assert split == want, rel
        if folder == "_unknown_":
            assert digit not in TINY.keywords, rel  # no keyword in _unknown_
        else:
            assert digit == folder and digit in TINY.keywords, rel


def test_counts(task):
    splits = split_of(task)
    count = lambda s, c: sum(1 for rel, sp in splits.items() if sp == s and rel.split("/")[0] == c)  # noqa: E731
    # keywords: every take of every speaker; unknown digits: 2 takes of each of the 3 other digits per speaker
    for split, n_speakers in (("train", 2), ("validation", 1), ("test", 1)):
        for kw in TINY.keywords:
            assert count(split, kw) == n_speakers * TAKES
        fsdd_unknown = sum(1 for rel, sp in splits.items() if sp == split and rel.startswith("_unknown_/")
                           and not rel.startswith("_unknown_/espeak_"))
        assert fsdd_unknown == n_speakers * 3 * 2
    for cls in ("_silence_",):
        assert [count(s, cls) for s in ("train", "validation", "test")] == [14, 3, 3]
    espeak = [sum(1 for rel, sp in splits.items() if sp == s and rel.startswith("_unknown_/espeak_"))
              for s in ("train", "validation", "test")]
    assert espeak == [14, 3, 3]
    manifest = json.loads((task / "fsdd_kws.json").read_text())
    assert manifest["counts"] == {s: {c: count(s, c) for c in ("0", "1", "_unknown_", "_silence_")}
                                  for s in ("train", "validation", "test")}
    assert manifest["speakers"] == {"train": ["alice", "bob"], "validation": ["jackson"], "test": ["theo"]}
    assert manifest["config"]["keywords"] == ["0", "1"] and manifest["source"]["files"] == 60


def test_audio_is_16k_mono_pcm16(task, fake_fsdd):
    for rel in clips(task):
        info = sf.info(str(task / rel))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), rel
        if rel.startswith("_silence_/"):
            assert info.frames == 16000
            x, _ = sf.read(str(task / rel))
            assert np.any(x) and np.abs(x).max() < 0.5
        elif not rel.startswith("_unknown_/espeak_"):
            src = sf.info(str(fake_fsdd / "recordings" / rel.split("/")[1]))
            assert info.frames == 2 * src.frames  # 8 kHz resampled to 16 kHz


def test_cache_keeps_a_complete_task(task, fake_fsdd, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in task.rglob("*")}

    def no_work(*_a, **_k):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(fsdd_kws, "plan_jobs", no_work)
    assert make_fsdd_kws(fake_fsdd, task, TINY, show_progress=False) == task
    assert {p: p.stat().st_mtime_ns for p in task.rglob("*")} == before
    with pytest.raises(AssertionError, match="rebuilt"):
        make_fsdd_kws(fake_fsdd, task, FsddKwsConfig(keywords=("0", "1"), unknown_takes=2, espeak_words=20,
                                                     silence=20, seed=1), show_progress=False)


def test_rebuild_with_other_keywords_replaces_the_folders(fake_fsdd, tmp_path):
    dest = tmp_path / "kws"
    make_fsdd_kws(fake_fsdd, dest, FsddKwsConfig(keywords=("0", "1", "2"), test_speakers=("theo",), espeak_words=0,
                                                 silence=2), show_progress=False)
    make_fsdd_kws(fake_fsdd, dest, FsddKwsConfig(keywords=("3",), test_speakers=("theo",), unknown_takes=None,
                                                 espeak_words=0, silence=2), show_progress=False)
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["3", "_silence_", "_unknown_"]
    assert len(list((dest / "_unknown_").glob("*.wav"))) == 4 * 4 * TAKES  # unknown_takes=None: all of them
    assert set(lists(dest)["test"]) <= set(clips(dest))


def test_interrupted_build_leaves_nothing(fake_fsdd, tmp_path, monkeypatch):
    real, calls = fsdd_kws.clip_audio, []

    def fail_later(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fsdd_kws, "clip_audio", fail_later)
    with pytest.raises(KeyboardInterrupt):
        make_fsdd_kws(fake_fsdd, tmp_path / "kws", TINY, show_progress=False)
    assert list((tmp_path / "kws").iterdir()) == []


@pytest.mark.parametrize("bad, match", [
    (dict(keywords=()), "keywords"), (dict(keywords=("0", "0")), "repeat"), (dict(keywords=("_unknown_",)), "digits"),
    (dict(test_speakers=("theo",), validation_speaker="theo"), "differ"), (dict(test_speakers=()), "test_speakers"),
    (dict(test_speakers=("theo", "theo")), "repeat"), (dict(unknown_takes=-1), "unknown_takes"),
    (dict(espeak_words=-3), "espeak_words"), (dict(silence=1.5), "silence"), (dict(splits=(0.5, 0.5, 0.5)), "splits"),
    (dict(splits=(1.0, float("nan"), 0.0)), "splits"), (dict(rate=10), "rate"), (dict(seed=-1), "seed"),
    (dict(version=0), "version"),
])
def test_bad_config_is_a_one_line_error(bad, match):
    with pytest.raises(SpcError, match=match) as err:
        FsddKwsConfig(**bad)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("config, match", [
    (FsddKwsConfig(keywords=("7",)), "not FSDD labels"),
    (FsddKwsConfig(test_speakers=("nobody",)), "test speaker 'nobody'"),
    (FsddKwsConfig(test_speakers=("theo", "alice", "bob")), "needs a training speaker"),
    (FsddKwsConfig(test_speakers=("theo",), validation_speaker="george"), "validation speaker 'george'"),
])
def test_config_that_does_not_fit_the_data_is_an_error(fake_fsdd, tmp_path, config, match):
    with pytest.raises(SpcError, match=match):
        make_fsdd_kws(fake_fsdd, tmp_path / "kws", config, show_progress=False)
    assert not (tmp_path / "kws").exists()


def test_missing_or_empty_fsdd_and_bad_files(tmp_path):
    with pytest.raises(SpcError, match="does not exist"):
        make_fsdd_kws(tmp_path / "nothing", tmp_path / "kws", TINY, show_progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpcError, match="no files named like"):
        make_fsdd_kws(tmp_path / "empty", tmp_path / "kws", TINY, show_progress=False)
    src = tmp_path / "src"
    for s in ("a", "b", "c"):
        for d in ("0", "1"):
            write_wav(src / f"{d}_{s}_0.wav", np.full(800, 0.1, np.float32), rate=8000)
    (src / "1_b_0.wav").write_bytes(b"RIFF broken")
    with pytest.raises(SpcError) as err:
        make_fsdd_kws(src, tmp_path / "kws2", FsddKwsConfig(keywords=("0",), test_speakers=("a",), validation_speaker="c",
                                                            espeak_words=0, silence=0), show_progress=False)
    assert "1_b_0.wav" in str(err.value) and "\n" not in str(err.value)


def test_folder_with_other_files_is_refused(fake_fsdd, tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(SpcError, match="holds other files"):
        make_fsdd_kws(fake_fsdd, tmp_path, TINY, show_progress=False)


def test_espeak_words_are_not_digits_or_their_homophones():
    said = {w for ws in DIGIT_WORDS.values() for w in ws}
    sounds = said | {h for w in said for h in HOMOPHONES.get(w, ())}
    assert not set(ESPEAK_WORDS) & sounds
    assert len(set(ESPEAK_WORDS)) == len(ESPEAK_WORDS) >= 80


def test_real_fsdd(tmp_path):
    """The default task from the real FSDD, with few espeak words and silence clips so that it stays quick."""
    fsdd = require_fsdd()
    config = FsddKwsConfig(espeak_words=40, silence=40)
    t0 = time.perf_counter()
    dest = make_fsdd_kws(fsdd, tmp_path / "kws", config, show_progress=False)
    seconds = time.perf_counter() - t0
    manifest = json.loads((dest / "fsdd_kws.json").read_text())
    counts = manifest["counts"]
    for split, speakers in (("train", 3), ("validation", 1), ("test", 2)):  # 300 test keyword clips from two voices
        assert all(counts[split][k] == 50 * speakers for k in ("0", "1", "2")), split
    assert [counts[s]["_unknown_"] for s in ("train", "validation", "test")] == [3 * 140 + 28, 140 + 6, 2 * 140 + 6]
    assert [counts[s]["_silence_"] for s in ("train", "validation", "test")] == [28, 6, 6]
    assert manifest["speakers"] == {"train": ["george", "lucas", "yweweler"], "validation": ["jackson"],
                                    "test": ["nicolas", "theo"]}
    listed = lists(dest)
    assert len(listed["test"]) == 300 + 286 + 6 and len(listed["validation"]) == 150 + 146 + 6
    assert set(listed["test"]) | set(listed["validation"]) <= set(clips(dest))
    assert len(clips(dest)) == sum(sum(c.values()) for c in counts.values())
    assert seconds < 60


def test_the_task_reads_back_as_its_own_keywords_plus_unknown_and_silence(task):
    """The preprocessed 12-class form with digit keywords: the reader takes the word folders as the keywords."""
    from spc.data import open_dataset

    ds = open_dataset(task)
    assert ds.labels == [*TINY.keywords, "_unknown_", "_silence_"] and ds.options["form"] == "preprocessed"
    manifest = json.loads((task / "fsdd_kws.json").read_text())
    for split in ("train", "validation", "test"):
        assert len(ds.splits[split]) == sum(manifest["counts"][split].values())
