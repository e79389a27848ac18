"""Speech Commands as users hold it: the full v0.02 archive (lists, v2-12 mapping), the official test set, the
preprocessed 12-class folder; and what real folders hold: nested sub-folders, hidden folders, dangling links."""

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
from spc.data.speech_commands import V2_12_WORDS, is_speech_commands_preprocessed, is_speech_commands_test_set
from spc.data.reader import detect_layout
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


def noise(seconds: float = 0.1, seed: int = 0) -> np.ndarray:
    """A short clip of uniform noise (never all zeros, so it is always a usable clip)."""
    return np.random.default_rng(seed).uniform(-0.3, 0.3, int(16000 * seconds)).astype(np.float32)


def preprocessed_12(root: Path, missing: int = 3) -> Path:
    """A miniature preprocessed 12-class folder: 10 words, ready _unknown_/_silence_, lists naming a few absent files.

    Every class has 4 clips: 0 and 1 train, 2 validation, 3 test; testing_list.txt also names
    ``missing`` files that are not there. A ``_background_noise_`` folder is there too (to be ignored).
    """
    val, test = [], []
    for c, label in enumerate(V2_12):
        for k in range(4):
            write_wav(root / label / f"c{k}_nohash_0.wav", noise(0.1 + 0.1 * k, seed=10 * c + k))
        val.append(f"{label}/c2_nohash_0.wav")
        test.append(f"{label}/c3_nohash_0.wav")
    test += [f"yes/gone{k}.wav" for k in range(missing)]
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    write_wav(root / "_background_noise_" / "white_noise.wav", noise(5.0))
    return root


def test_preprocessed_12_class_folder_is_detected_and_its_folders_are_classes(tmp_path):
    root = preprocessed_12(tmp_path / "sc12")
    assert is_speech_commands_preprocessed(root) and not is_speech_commands_test_set(root)
    assert detect_layout(root) == "speech-commands"
    assert not is_speech_commands_preprocessed(full_archive(tmp_path / "full"))
    ds = open_dataset(root)
    assert ds.labels == V2_12 and ds.options == {"task": "v2-12", "form": "preprocessed"}
    assert {s: len(ds.splits[s]) for s in ("train", "validation", "test")} == {"train": 24, "validation": 12, "test": 12}
    for split, per_class in (("train", 2), ("validation", 1), ("test", 1)):
        assert Counter(it.label for it in ds.splits[split]) == dict.fromkeys(V2_12, per_class)
    everything = [it for items in ds.splits.values() for it in items]
    assert all("_background_noise_" not in it.path and it.duration is None for it in everything)  # no cut silence
    assert {Path(it.path).name for it in ds.splits["test"]} == {"c3_nohash_0.wav"}
    assert ds.notes == ["testing_list.txt names 3 files that are not in the folder (first: yes/gone0.wav)"]
    assert ds.describe()["notes"] == ds.notes
    for layout in ("speech-commands", "speech-commands-v2-12"):
        assert open_dataset(root, layout).splits == ds.splits
    assert open_dataset(root, task="v2-12").splits == ds.splits
    clips = load_clips(ds, "validation", show_progress=False)
    assert np.bincount(clips.targets, minlength=12).tolist() == [1] * 12


def test_preprocessed_12_class_folder_refuses_task_35_in_one_line(tmp_path):
    root = preprocessed_12(tmp_path / "sc12")
    with pytest.raises(SpcError) as err:
        open_dataset(root, task="35")
    message = str(err.value)
    assert "\n" not in message and str(root) in message
    assert message.endswith("holds the v2-12 task only, not task '35'") and "preprocessed 12-class" in message


def test_a_full_archive_with_clean_lists_has_no_notes_and_missing_entries_are_counted(tmp_path):
    root = full_archive(tmp_path / "sc")
    assert open_dataset(root).notes == [] and "notes" not in open_dataset(root).describe()
    with open(root / "validation_list.txt", "a") as f:
        f.write("cat/not_here.wav\n")
    for task in ("35", "v2-12"):
        assert open_dataset(root, task=task).notes == [
            "validation_list.txt names 1 file that is not in the folder (first: cat/not_here.wav)"]


def test_nested_sub_folders_are_read_under_their_class(tmp_path):
    # folders layout, hash split: every file under low/ (at any depth) is a "low" clip
    for k in range(3):
        write_wav(tmp_path / "d" / "low" / "session1" / "deeper" / f"{k}.wav", noise(seed=k))
        write_wav(tmp_path / "d" / "high" / f"{k}.wav", noise(seed=10 + k))
    ds = open_dataset(tmp_path / "d")
    assert ds.labels == ["high", "low"]
    items = [it for v in ds.splits.values() for it in v]
    assert Counter(it.label for it in items) == {"high": 3, "low": 3}
    assert all(it.label == "low" for it in items if "session1" in it.path)
    # folders layout with split folders
    write_wav(tmp_path / "s" / "train" / "a" / "take1" / "x.wav", noise(seed=1))
    write_wav(tmp_path / "s" / "train" / "b" / "y.wav", noise(seed=2))
    write_wav(tmp_path / "s" / "test" / "a" / "take2" / "z.wav", noise(seed=3))
    ds = open_dataset(tmp_path / "s")
    assert ds.labels == ["a", "b"] and [it.label for it in ds.splits["test"]] == ["a"]
    assert sorted(it.label for it in ds.splits["train"]) == ["a", "b"]
    # a Speech Commands word folder: the lists name the nested file by its path under the root
    root = full_archive(tmp_path / "sc")
    write_wav(root / "yes" / "extra" / "spk9_nohash_0.wav", noise(seed=4))
    with open(root / "testing_list.txt", "a") as f:
        f.write("yes/extra/spk9_nohash_0.wav\n")
    ds = open_dataset(root)
    assert "extra" not in ds.labels and ds.notes == []
    assert [it.label for it in ds.splits["test"] if "extra" in it.path] == ["yes"]


def test_hidden_folders_and_macosx_are_never_classes(tmp_path):
    junk = (".ipynb_checkpoints", "__MACOSX", ".hidden")
    for base in (tmp_path / "d", tmp_path / "s" / "train", tmp_path / "s" / "validation"):
        for label in ("a", "b"):
            write_wav(base / label / "x.wav", noise(seed=1))
            write_wav(base / label / ".ipynb_checkpoints" / "x-checkpoint.wav", noise(seed=2))
        for name in junk:
            write_wav(base / name / "y.wav", noise(seed=3))
    for root in (tmp_path / "d", tmp_path / "s"):
        ds = open_dataset(root)
        assert ds.labels == ["a", "b"]
        assert not any(part in junk for v in ds.splits.values() for it in v for part in Path(it.path).parts)
    root = full_archive(tmp_path / "sc")
    for name in junk:
        write_wav(root / name / "spk0_nohash_0.wav", noise(seed=5))
    write_wav(root / "yes" / ".ipynb_checkpoints" / "spk0_nohash_0.wav", noise(seed=6))
    for task in ("35", "v2-12"):
        ds = open_dataset(root, task=task)
        assert not set(junk) & set(ds.labels) and sum(map(len, ds.splits.values())) == sum(
            map(len, open_dataset(full_archive(tmp_path / f"clean{task}"), task=task).splits.values()))
    official = official_test_set(tmp_path / "t")
    write_wav(official / ".ipynb_checkpoints" / "a.wav", noise(seed=7))
    assert is_speech_commands_test_set(official) and open_dataset(official).labels == V2_12


def test_dangling_links_are_listed_as_skipped_with_the_reason(tmp_path):
    root = tmp_path / "d"
    for k in range(3):
        write_wav(root / "train" / "a" / f"{k}.wav", noise(seed=k))
        write_wav(root / "train" / "b" / f"{k}.wav", noise(seed=10 + k))
    (root / "train" / "a" / "gone.wav").symlink_to(tmp_path / "nowhere" / "gone.wav")
    ds = open_dataset(root)
    assert len(ds.splits["train"]) == 6 and not any("gone" in it.path for it in ds.splits["train"])
    reason = f"dangling symbolic link (to {tmp_path / 'nowhere' / 'gone.wav'})"
    assert ds.skipped == {"train": [(str(root / "train" / "a" / "gone.wav"), reason)]}
    assert ds.describe()["skipped"] == {"train": [[str(root / "train" / "a" / "gone.wav"), reason]]}
    clips = load_clips(ds, "train", show_progress=False)
    assert len(clips) == 6 and clips.skipped == [(str(root / "train" / "a" / "gone.wav"), reason)]
    # in Speech Commands, a dangling link a list names goes to that list's split, and is not a missing entry
    sc = full_archive(tmp_path / "sc")
    (sc / "no" / "spk7_nohash_0.wav").symlink_to(tmp_path / "nowhere" / "x.wav")
    with open(sc / "testing_list.txt", "a") as f:
        f.write("no/spk7_nohash_0.wav\n")
    ds = open_dataset(sc)
    assert ds.notes == [] and [Path(p).name for p, _ in ds.skipped["test"]] == ["spk7_nohash_0.wav"]
    assert load_clips(ds, "test", show_progress=False).skipped[0][1].startswith("dangling symbolic link")
