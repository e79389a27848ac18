"""Data readers and audio loading on small files made in the test."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import tone, write_wav
from spc.audio import BadAudio, fix_length, read_audio
from spc.data import load_clips, open_dataset
from spc.errors import SpcError


def _speech_commands(root):
    for word in ("yes", "no", "cat"):
        for k in range(4):
            write_wav(root / word / f"spk{k}_nohash_0.wav", tone(300 + 100 * k, 0.8))
    (root / "validation_list.txt").write_text("yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\ncat/spk2_nohash_0.wav\n")
    write_wav(root / "_background_noise_" / "white.wav", np.random.default_rng(0).uniform(-0.1, 0.1, 16000 * 20).astype(np.float32))
    return root


def test_speech_commands_split_lists_are_honoured(tmp_path):
    ds = open_dataset(_speech_commands(tmp_path / "sc"))
    assert ds.layout == "speech-commands" and ds.labels == ["cat", "no", "yes"]
    val = {(it.label, it.path.split("/")[-1]) for it in ds.splits["validation"]}
    test = {(it.label, it.path.split("/")[-1]) for it in ds.splits["test"]}
    assert val == {("yes", "spk1_nohash_0.wav"), ("no", "spk1_nohash_0.wav")}
    assert test == {("yes", "spk2_nohash_0.wav"), ("cat", "spk2_nohash_0.wav")}
    assert len(ds.splits["train"]) == 12 - 4


def test_speech_commands_v2_12_task(tmp_path):
    ds = open_dataset(_speech_commands(tmp_path / "sc"), "speech-commands-v2-12")
    assert ds.labels[-2:] == ["_unknown_", "_silence_"] and len(ds.labels) == 12
    train_labels = {it.label for it in ds.splits["train"]}
    assert "_unknown_" in train_labels and "cat" not in train_labels and "_silence_" in train_labels
    silence = [it for it in ds.splits["test"] if it.label == "_silence_"]
    assert silence and all(it.duration == 1.0 and 18.0 <= it.start <= 19.0 for it in silence)
    clips = load_clips(ds, "test", show_progress=False)
    assert clips.audio.shape[1] == 16000


def test_folders_layout_with_split_folders(tone_dataset):
    ds = open_dataset(tone_dataset)
    assert ds.layout == "folders" and ds.labels == ["high", "low", "mid"]
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == [72, 18, 18]


def test_folders_layout_hash_split_is_stable(tmp_path):
    for label in ("a", "b"):
        for k in range(40):
            write_wav(tmp_path / "d" / label / f"{k}.wav", tone(400, 0.2))
    first = open_dataset(tmp_path / "d")
    second = open_dataset(tmp_path / "d")
    assert first.splits == second.splits
    assert all(len(first.splits[s]) > 0 for s in ("train", "validation", "test"))


def test_fsdd_layout_by_take_and_speaker(tmp_path):
    for digit in "01":
        for spk in ("ann", "bob", "cid"):
            for take in range(12):
                write_wav(tmp_path / "f" / f"{digit}_{spk}_{take}.wav", tone(500, 0.3), rate=8000)
    ds = open_dataset(tmp_path / "f")
    assert ds.layout == "fsdd" and ds.labels == ["0", "1"]
    assert len(ds.splits["test"]) == 2 * 3 * 5 and len(ds.splits["validation"]) == 2 * 3 * 5
    assert all(int(it.path.rsplit("_", 1)[1][:-4]) >= 10 for it in ds.splits["train"])
    by_spk = open_dataset(tmp_path / "f", split_by="speaker", test_speaker="bob")
    assert all("_bob_" in it.path for it in by_spk.splits["test"])
    assert all("_bob_" not in it.path for it in by_spk.splits["train"] + by_spk.splits["validation"])
    with pytest.raises(SpcError, match="speaker 'zed' is not in"):
        open_dataset(tmp_path / "f", split_by="speaker", test_speaker="zed")


def test_resampling_keeps_the_frequency(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(440, 1.0, rate=8000), rate=8000)
    x = read_audio(path, 16000)
    assert len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * 16000 / len(x) - 440) < 2


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tone(300, 0.5), np.zeros(8000, np.float32)
    path = tmp_path / "st.wav"
    sf.write(str(path), np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(path, 16000), left / 2, atol=1e-6)


def test_fix_length_pads_and_crops_centrally():
    np.testing.assert_array_equal(fix_length(np.ones(4, np.float32), 8), [0, 0, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(fix_length(np.arange(10, dtype=np.float32), 4), [3, 4, 5, 6])


def test_bad_files_are_skipped_and_listed(tmp_path):
    root = tmp_path / "d"
    for k in range(3):
        write_wav(root / "train" / "a" / f"ok{k}.wav", tone(300, 0.5))
    write_wav(root / "validation" / "b" / "ok.wav", tone(900, 0.5))  # a data set has two classes at least
    write_wav(root / "train" / "a" / "zeros.wav", np.zeros(16000, np.float32))
    (root / "train" / "a" / "garbage.wav").write_bytes(b"not a wav file at all")
    sf.write(str(root / "train" / "a" / "empty.wav"), np.zeros((0,), np.float32), 16000)
    nan = tone(300, 0.5).astype(np.float64)
    nan[100] = np.nan
    sf.write(str(root / "train" / "a" / "nan.wav"), nan, 16000, subtype="DOUBLE")
    cut = write_wav(root / "train" / "a" / "cut.wav", tone(300, 0.5))
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])  # a copy cut short: reads without an error
    clips = load_clips(open_dataset(root), "train", show_progress=False)
    assert len(clips) == 4  # digital silence is audio: it is what a _silence_ class holds
    assert any(p.endswith("zeros.wav") for p in clips.paths)
    reasons = {p.split("/")[-1]: r for p, r in clips.skipped}
    assert set(reasons) == {"garbage.wav", "empty.wav", "nan.wav", "cut.wav"}
    assert reasons["empty.wav"] == "empty" and reasons["cut.wav"].startswith("truncated: holds 3")
    assert "NaN" in reasons["nan.wav"] and reasons["garbage.wav"].startswith("unreadable")
    with pytest.raises(BadAudio):
        read_audio(root / "train" / "a" / "garbage.wav", 16000)


def test_empty_split_names_split_and_folder(tmp_path):
    write_wav(tmp_path / "d" / "train" / "a" / "x.wav", tone(300, 0.5))
    write_wav(tmp_path / "d" / "train" / "b" / "x.wav", tone(900, 0.5))
    ds = open_dataset(tmp_path / "d")
    with pytest.raises(SpcError, match=f"split 'test' of {tmp_path / 'd'}.*has no clips"):
        load_clips(ds, "test")


def test_missing_folder_and_no_clips(tmp_path):
    with pytest.raises(SpcError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(SpcError, match="holds no audio clips"):
        open_dataset(tmp_path / "empty")


def test_balanced_limit(tone_dataset):
    clips = load_clips(open_dataset(tone_dataset), "train", limit=9, show_progress=False)
    assert np.bincount(clips.targets).tolist() == [3, 3, 3]
