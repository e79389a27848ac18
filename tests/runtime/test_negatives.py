"""Negative audio for false accepts per hour: made offline by espeak-ng, cached, keyword-free; or read from a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import write_wav
from spc.errors import SpcError
from spc.fileio import sha256_file
from spc.streaming import negatives as neg
from spc.streaming.negatives import (NegativesConfig, excluded_tokens, fa_resolution, make_negative_audio,
                                     make_sentences, negative_hours, read_negatives, tokens, vocabulary)

V2_12 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SHORT = NegativesConfig(hours=0.01, file_minutes=0.25, seed=3)  # 36 s: files of 15, 15 and 6 s


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The short set, made once for the tests that only read it."""
    dest = tmp_path_factory.mktemp("neg") / "negatives"
    return make_negative_audio(dest, SHORT, V2_12, show_progress=False)


def test_files_add_up_to_the_hours_and_hashes_are_recorded(made):
    manifest = json.loads((made / "negatives.json").read_text())
    files = manifest["files"]
    assert [f["name"] for f in files] == ["negatives_000.wav", "negatives_001.wav", "negatives_002.wav"]
    total = 0.0
    for f in files:
        info = sf.info(str(made / f["name"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames / 16000 == pytest.approx(f["seconds"])
        assert f["sha256"] == sha256_file(made / f["name"])
        total += info.frames / 16000
    assert total == pytest.approx(36.0, abs=0.01) and manifest["seconds"] == pytest.approx(total)
    assert [f["seconds"] for f in files] == pytest.approx([15.0, 15.0, 6.0])
    assert manifest["excluded_words"] == sorted(V2_12)
    assert manifest["config"]["hours"] == 0.01 and manifest["config"]["version"] == 2
    assert not [p for p in made.iterdir() if p.name.startswith(".tmp")]


def test_audio_holds_speech_over_noise(made):
    x, rate = sf.read(str(made / "negatives_000.wav"))
    frames = x[: len(x) // 1600 * 1600].reshape(-1, 1600)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    assert level.min() > -60  # noise everywhere, no digital silence
    assert (level > level.min() + 15).mean() > 0.2  # speech in a good part of it
    assert np.abs(x).max() < 1.0


def test_second_call_is_a_cache_hit(made, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in made.iterdir()}

    def no_synthesis(*_a, **_k):
        raise AssertionError("synthesised again")

    monkeypatch.setattr(neg, "Espeak", no_synthesis)
    assert make_negative_audio(made, SHORT, list(reversed(V2_12)), show_progress=False) == made
    assert {p.name: p.stat().st_mtime_ns for p in made.iterdir()} == before
    with pytest.raises(AssertionError, match="synthesised again"):  # other excluded words: not the same set
        make_negative_audio(made, SHORT, ("yes",), show_progress=False)


def test_other_config_rebuilds_without_stale_files(tmp_path):
    dest = tmp_path / "n"
    make_negative_audio(dest, NegativesConfig(hours=0.005, file_minutes=0.1), show_progress=False)  # 18 s: 3 files
    assert len(list(dest.glob("*.wav"))) == 3
    make_negative_audio(dest, NegativesConfig(hours=0.002, file_minutes=0.1), show_progress=False)  # 7.2 s: 2 files
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["negatives.json", "negatives_000.wav", "negatives_001.wav"]
    assert json.loads((dest / "negatives.json").read_text())["seconds"] == pytest.approx(7.2)


def test_a_missing_file_is_made_again(tmp_path):
    dest = make_negative_audio(tmp_path / "n", NegativesConfig(hours=0.002), show_progress=False)
    (dest / "negatives_000.wav").unlink()
    make_negative_audio(dest, NegativesConfig(hours=0.002), show_progress=False)
    assert sf.info(str(dest / "negatives_000.wav")).frames == round(0.002 * 3600 * 16000)


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    real, calls = neg._write_file, []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(neg, "_write_file", fail_second)
    dest = tmp_path / "n"
    with pytest.raises(KeyboardInterrupt):
        make_negative_audio(dest, NegativesConfig(hours=0.005, file_minutes=0.1), show_progress=False)
    assert list(dest.iterdir()) == []


def test_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(SpcError, match="holds other files"):
        make_negative_audio(tmp_path, SHORT, show_progress=False)


def test_no_excluded_word_is_ever_chosen():
    excluded = ("YES", "up", "2", "Right")
    banned = excluded_tokens(excluded)
    assert {"yes", "up", "two", "to", "too", "right", "write"} <= banned
    words = vocabulary(excluded)
    assert "sign-up" in neg.VOCABULARY and "sign-up" not in words and "follow-up" not in words  # whole tokens
    assert "to" in neg.VOCABULARY and "to" not in words
    assert "upon" in words  # a token that merely starts with "up" is kept
    sentences = make_sentences(7, words, (4, 14), 3000)
    said = {t for s in sentences for t in tokens(s)}
    assert not said & banned
    assert len(said) > 0.9 * len(words)  # the vocabulary is used, not a handful of words
    assert make_sentences(7, words, (4, 14), 5) == sentences[:5]  # seeded
    assert all(4 <= len(s.split()) <= 14 for s in sentences)


def test_every_vocabulary_word_survives_unrelated_exclusions():
    assert vocabulary(()) == neg.VOCABULARY
    assert len(neg.VOCABULARY) >= 300
    assert not any(ch.isdigit() for w in neg.VOCABULARY for ch in w)


def test_excluding_almost_everything_is_an_error():
    with pytest.raises(SpcError, match="words are left"):
        vocabulary(neg.VOCABULARY[:-5])


@pytest.mark.parametrize("bad", [
    dict(hours=0), dict(hours=-1), dict(hours=float("nan")), dict(hours=float("inf")), dict(rate=100),
    dict(rate=16000.5), dict(seed=-1), dict(voices=()), dict(words_per_minute=(300, 200)),
    dict(pitch=(0, 120)), dict(snr_db=(30, 5)), dict(snr_db=(5, float("nan"))), dict(noise_db=5.0), dict(noise_db=float("nan")),
    dict(colours=("purple",)), dict(version=1),
    dict(sentence_words=(0, 5)), dict(sentence_words=(2.5, 5)), dict(pause_seconds=(-1, 1)),
    dict(file_minutes=0), dict(version=0), dict(excluded_words=(3,)), dict(snr_db=(-10,)),
])
def test_bad_config_is_a_one_line_error(bad):
    with pytest.raises(SpcError) as err:
        NegativesConfig(**bad)
    assert "\n" not in str(err.value) and "negatives" in str(err.value)


def test_unknown_voice_fails_before_synthesis(tmp_path):
    with pytest.raises(SpcError, match="no voice 'xx-nothing'"):
        make_negative_audio(tmp_path / "n", NegativesConfig(hours=0.01, voices=("en-us", "xx-nothing")),
                            show_progress=False)
    assert not (tmp_path / "n" / "negatives.json").exists()


def test_config_lists_become_tuples():
    c = NegativesConfig(voices=["en-us"], snr_db=[5, 25], excluded_words="yes")
    assert c.voices == ("en-us",) and c.snr_db == (5, 25) and c.excluded_words == ("yes",)


def test_read_negatives_reads_a_folder_recursively(tmp_path):
    rng = np.random.default_rng(0)
    write_wav(tmp_path / "a.wav", 0.1 * rng.standard_normal(16000).astype(np.float32))
    write_wav(tmp_path / "sub" / "b.wav", 0.1 * rng.standard_normal(8000).astype(np.float32), rate=8000)  # 1 s
    sf.write(str(tmp_path / "sub" / "c.flac"), 0.1 * rng.standard_normal((32000, 2)), 16000)  # stereo, 2 s
    write_wav(tmp_path / ".hidden" / "d.wav", 0.1 * rng.standard_normal(16000).astype(np.float32))
    (tmp_path / "notes.txt").write_text("not audio")
    arrays = read_negatives(tmp_path, 16000)
    assert [len(a) for a in arrays] == [16000, 16000, 32000]
    assert all(a.ndim == 1 and a.dtype == np.float32 for a in arrays)
    hours = negative_hours(arrays, 16000)
    assert hours == pytest.approx(4 / 3600)
    assert fa_resolution(hours) == pytest.approx(900.0)
    assert len(read_negatives([tmp_path / "a.wav", tmp_path / "sub"], 16000)) == 3


def test_read_negatives_reads_what_make_negative_audio_wrote(made):
    arrays = read_negatives(made, 16000)
    assert negative_hours(arrays, 16000) == pytest.approx(0.01, abs=1e-5)


def test_read_negatives_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpcError, match="holds no audio files"):
        read_negatives(tmp_path / "empty", 16000)
    with pytest.raises(SpcError, match="does not exist"):
        read_negatives(tmp_path / "missing", 16000)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.wav").write_bytes(b"RIFF not really")
    with pytest.raises(SpcError) as err:
        read_negatives(tmp_path / "bad", 16000)
    assert "broken.wav" in str(err.value) and "\n" not in str(err.value)


def test_fa_resolution():
    assert fa_resolution(2.0) == 0.5 and fa_resolution(0.25) == 4.0
    for bad in (0, -1, float("nan")):
        with pytest.raises(SpcError):
            fa_resolution(bad)


def test_a_cached_file_with_other_bytes_of_the_same_size_is_made_again(tmp_path):
    """Issue 39: a zeroed negatives_000.wav of the right size was reused and false accepts measured on silence."""
    dest = make_negative_audio(tmp_path / "n", NegativesConfig(hours=0.002), show_progress=False)
    wav = dest / "negatives_000.wav"
    good = wav.read_bytes()
    wav.write_bytes(good[:44] + bytes(len(good) - 44))  # the header kept, the samples zeroed
    make_negative_audio(dest, NegativesConfig(hours=0.002), show_progress=False)
    remade = wav.read_bytes()
    assert remade != good[:44] + bytes(len(good) - 44) and any(remade[44:])
    manifest = json.loads((dest / "negatives.json").read_text())
    assert manifest["files"][0]["sha256"] == sha256_file(wav)
