"""Speech Commands as users hold it: the full v0.02 archive (lists, v2-12 mapping) and the official test set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs, tone, write_wav
from spc.cli import cli
from spc.data import load_clips, open_dataset
from spc.data.layouts import V2_12_WORDS, detect_layout, is_speech_commands_test_set
from spc.errors import SpcError

V2_12 = list(V2_12_WORDS) + ["_unknown_", "_silence_"]


def full_archive(root: Path) -> Path:
    """A miniature speech_commands_v0.02: 10 words + 2 other words, 3 clips each, lists, background noise."""
    for w, word in enumerate(list(V2_12_WORDS) + ["cat", "dog"]):
        for k in range(3):
            write_wav(root / word / f"spk{k}_nohash_0.wav", tone(200 + 50 * w + 10 * k, 1.0))
    words = list(V2_12_WORDS) + ["cat", "dog"]
    (root / "validation_list.txt").write_text("".join(f"{w}/spk1_nohash_0.wav\n" for w in words))
    (root / "testing_list.txt").write_text("".join(f"{w}/spk2_nohash_0.wav\n" for w in words))
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, 16000 * 30).astype(np.float32)
    write_wav(root / "_background_noise_" / "white_noise.wav", noise)
    (root / "LICENSE").write_text("CC-BY-4.0\n")
    return root


def official_test_set(root: Path, per_class: int = 2) -> Path:
    """A miniature speech_commands_test_set_v0.02: the 12 v2-12 folders with ready 1 s clips, nothing else."""
    for c, label in enumerate(V2_12):
        for k in range(per_class + (c == 10)):  # one more _unknown_ clip, so counts differ by class
            x = np.zeros(16000, np.float32) + 1e-3 if label == "_silence_" else tone(300 + 40 * c + 5 * k, 1.0)
            write_wav(root / label / f"clip{k}_nohash_0.wav", x)
    return root


def test_full_archive_task_35_follows_the_lists(tmp_path):
    ds = open_dataset(full_archive(tmp_path / "speech_commands_v0.02"))
    assert ds.layout == "speech-commands" and ds.options == {"task": "35"}
    assert ds.labels == sorted(list(V2_12_WORDS) + ["cat", "dog"]) and "_background_noise_" not in ds.labels
    assert {s: len(ds.splits[s]) for s in ("train", "validation", "test")} == {"train": 12, "validation": 12, "test": 12}
    assert all(Path(it.path).name == "spk2_nohash_0.wav" for it in ds.splits["test"])


def test_full_archive_v2_12_maps_other_words_to_unknown_and_cuts_silence(tmp_path):
    ds = open_dataset(full_archive(tmp_path / "sc"), task="v2-12")
    assert ds.labels == V2_12 and ds.options == {"task": "v2-12"}
    for split in ("train", "validation", "test"):
        counts = Counter(it.label for it in ds.splits[split])
        assert {w: counts[w] for w in V2_12_WORDS} == dict.fromkeys(V2_12_WORDS, 1)
        assert counts["_unknown_"] == 2  # cat and dog
        assert counts["_silence_"] > 0 and "cat" not in counts
    # silence: 1 s cuts of the noise file, first 80% for training, then 10% / 10% (the file is 30 s)
    spans = {"train": (0.0, 24.0), "validation": (24.0, 27.0), "test": (27.0, 30.0)}
    for split, (lo, hi) in spans.items():
        cuts = [it for it in ds.splits[split] if it.label == "_silence_"]
        assert all(it.duration == 1.0 and lo <= it.start and it.start + 1.0 <= hi for it in cuts)
    clips = load_clips(ds, "test", show_progress=False)
    assert clips.audio.shape == (len(ds.splits["test"]), 16000)


def test_official_test_set_is_detected_and_read_as_v2_12(tmp_path):
    root = official_test_set(tmp_path / "speech_commands_test_set_v0.02")
    assert is_speech_commands_test_set(root) and detect_layout(root) == "speech-commands"
    assert not is_speech_commands_test_set(full_archive(tmp_path / "full"))
    ds = open_dataset(root)
    assert ds.labels == V2_12  # the archive's v2-12 order, so a model trained on it matches exactly
    assert ds.options["task"] == "v2-12"
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == [0, 0, 25]
    counts = Counter(it.label for it in ds.splits["test"])
    assert counts == {**dict.fromkeys(V2_12, 2), "_unknown_": 3}
    clips = load_clips(ds, "test", show_progress=False)
    assert np.bincount(clips.targets, minlength=12).tolist() == [2] * 10 + [3, 2]
    for layout in ("speech-commands", "speech-commands-v2-12"):  # named explicitly, the same reading
        assert open_dataset(root, layout).splits == ds.splits
    assert open_dataset(root, task="v2-12").splits == ds.splits


def test_official_test_set_refuses_what_it_cannot_give(tmp_path):
    ds = open_dataset(official_test_set(tmp_path / "t"))
    for split in ("train", "validation"):
        with pytest.raises(SpcError, match=f"split '{split}' of .* has no clips: the Speech Commands test set holds "
                                           "only the test split; train and validate on the full v0.02 archive$"):
            ds.split(split)
    with pytest.raises(SpcError, match="holds the v2-12 task only .* not task '35'$"):
        open_dataset(tmp_path / "t", task="35")


def test_a_folder_of_other_classes_is_not_the_test_set(tmp_path):
    for label in ("yes", "no", "_unknown_", "_silence_", "banana"):
        write_wav(tmp_path / "d" / label / "a.wav", tone(400, 0.2))
    assert not is_speech_commands_test_set(tmp_path / "d") and detect_layout(tmp_path / "d") == "folders"


@pytest.fixture
def hub_like_model(tmp_path):
    """A tiny v2-12 model whose id2label is not in the data's order (as a hub model's rarely is)."""
    from spc.models import build_model, save_model

    labels = sorted(V2_12)
    assert labels != V2_12
    save_model(build_model(tiny_configs()["wav2vec2"], labels, seed=0), tmp_path / "m")
    return tmp_path / "m"


def test_eval_on_the_official_test_set_without_flags(tmp_path, hub_like_model):
    root = official_test_set(tmp_path / "speech_commands_test_set_v0.02")
    r = CliRunner().invoke(cli, ["eval", str(hub_like_model), "--data", str(root), "--split", "test", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["n_clips"] == 25 and result["label_mapping"]["mode"] == "by_name"
    assert {name: row["n"] for name, row in result["per_class"].items()} == {**dict.fromkeys(V2_12, 2), "_unknown_": 3}
    assert "classes matched by name" in r.stderr


def test_eval_on_a_split_the_test_set_lacks_is_one_line(tmp_path, hub_like_model):
    root = official_test_set(tmp_path / "t")
    r = CliRunner().invoke(cli, ["eval", str(hub_like_model), "--data", str(root), "--split", "validation"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and "Traceback" not in r.output
    assert lines[0].startswith("error: split 'validation' of") and "holds only the test split" in lines[0]
