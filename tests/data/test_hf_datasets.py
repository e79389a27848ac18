"""Hugging Face ``datasets`` folders read in place: save_to_disk (DatasetDict, one Dataset), the hub's Parquet files."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
import soundfile as sf

datasets = pytest.importorskip("datasets", reason="the datasets library (spc's hf extra) is not installed")

from click.testing import CliRunner  # noqa: E402

from conftest import tiny_configs, write_wav  # noqa: E402
from spc.cli import cli  # noqa: E402
from spc.data import load_clips, open_dataset  # noqa: E402
from spc.data.hf_datasets import is_hf_dataset, read_hf_dataset, split_name  # noqa: E402
from spc.data.reader import detect_layout  # noqa: E402
from spc.errors import SpcError  # noqa: E402

NAMES = ["yes", "no", "_silence_"]  # not sorted: the ClassLabel order is the class order


def clip(seed: int, n: int = 1600) -> np.ndarray:
    """0.1 s of noise that 16-bit PCM holds exactly (so decoded audio can be compared for equality)."""
    return (np.random.default_rng(seed).integers(-8000, 8000, n) / 32768).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int = 16000) -> bytes:
    """``x`` as the bytes of a 16-bit WAV file."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_split(labels: list[int], seed: int, audio=None, split=None) -> tuple["datasets.Dataset", list[np.ndarray]]:
    """A Dataset of WAV-bytes audio (``Audio(decode=False)``) with ``ClassLabel`` labels, and its source samples."""
    xs = [clip(seed + k) for k in range(len(labels))]
    ds = datasets.Dataset.from_dict({"audio": [{"bytes": wav_bytes(x), "path": f"clip{seed + k}.wav"}
                                               for k, x in enumerate(xs)], "label": labels}, split=split)
    ds = ds.cast_column("audio", audio or datasets.Audio(decode=False))
    return ds.cast_column("label", datasets.ClassLabel(names=NAMES)), xs


SPLIT_LABELS = {"train": [0, 1, 2, 0, 1, 2], "valid": [1, 0, 2], "test": [2, -1, 0, 1]}  # -1: a row with no label


def check_split(ds, split: str, labels: list[int], xs: list[np.ndarray]) -> None:
    """The split holds the labelled rows in order, decoded to the very samples they were made from."""
    keep = [k for k, v in enumerate(labels) if v >= 0]
    clips = load_clips(ds, split, clip_seconds=0.1, show_progress=False)
    assert clips.targets.tolist() == [labels[k] for k in keep] and clips.skipped == []
    np.testing.assert_array_equal(clips.audio, np.stack([xs[k] for k in keep]))


def test_dataset_dict_saved_to_disk_is_read_with_its_splits(tmp_path):
    parts = {name: make_split(labels, 100 * i) for i, (name, labels) in enumerate(SPLIT_LABELS.items())}
    datasets.DatasetDict({name: p[0] for name, p in parts.items()}).save_to_disk(str(tmp_path / "hf"))
    root = tmp_path / "hf"
    assert detect_layout(root) == "hf-datasets"
    ds = open_dataset(root)
    assert ds.layout == "hf-datasets" and ds.labels == NAMES
    assert ds.options == {"form": "save_to_disk", "label_column": "label"}
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 6, "validation": 3, "test": 3}
    assert ds.notes == ["split 'test': 1 row has no label (-1 or none) and is left out"]
    assert {it.split for it in ds.splits["validation"]} == {"valid"} and ds.splits["test"][1].row == 2
    for own, split in (("train", "train"), ("valid", "validation"), ("test", "test")):
        check_split(ds, split, SPLIT_LABELS[own], parts[own][1])
    assert "torchcodec" not in sys.modules  # decoded by soundfile, not through datasets


def test_one_dataset_saved_to_disk_is_its_one_split_and_an_audio_column_that_decodes_is_cast(tmp_path):
    ds_test, xs = make_split([0, 2, 1], 7, audio=datasets.Audio(sampling_rate=16000), split="test")  # decode=True
    ds_test.save_to_disk(str(tmp_path / "one"))
    ds = open_dataset(tmp_path / "one", "hf-datasets")
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 0, "validation": 0, "test": 3}
    check_split(ds, "test", [0, 2, 1], xs)
    with pytest.raises(SpcError, match=r"split 'train' of .* has no clips: this datasets folder holds only the test "
                                       r"split$"):
        ds.split("train")


@pytest.mark.parametrize("layout", ["data", "split-folders"])
def test_hub_parquet_layout_is_read_with_its_splits(tmp_path, layout):
    root = tmp_path / "hub"
    own = {"train": "train", "valid": "dev", "test": "test"}  # a "dev" folder or file is the validation split
    made = {}
    for i, (name, labels) in enumerate(SPLIT_LABELS.items()):
        ds, xs = make_split(labels, 100 * i)
        made[name] = xs
        path = (root / "data" / f"{own[name]}-00000-of-00001.parquet" if layout == "data"
                else root / own[name] / "0000.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(path))
    (root / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    assert is_hf_dataset(root) and detect_layout(root) == "hf-datasets"
    ds = open_dataset(root)
    assert ds.labels == NAMES and ds.options["form"] == "parquet"
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 6, "validation": 3, "test": 3}
    for name, split in (("train", "train"), ("valid", "validation"), ("test", "test")):
        check_split(ds, split, SPLIT_LABELS[name], made[name])


def test_a_shuffled_sample_reads_the_right_rows_and_each_row_group_once(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    ds, xs = make_split([0, 1, 2] * 10, 0)
    ds.to_parquet(str(tmp_path / "p" / "train-00000-of-00001.parquet"), batch_size=3)  # 10 row groups of 3 rows
    assert pq.ParquetFile(tmp_path / "p" / "train-00000-of-00001.parquet").metadata.num_row_groups == 10
    reads = []
    real = pq.ParquetFile.read_row_group
    monkeypatch.setattr(pq.ParquetFile, "read_row_group",
                        lambda self, i, *a, **k: reads.append(i) or real(self, i, *a, **k))
    data = open_dataset(tmp_path / "p")
    clips = load_clips(data, "train", limit=30, seed=3, clip_seconds=0.1, show_progress=False)
    rows = [int(p.rsplit(":", 1)[1].rstrip("]")) for p in clips.paths]
    assert sorted(rows) == list(range(30))
    assert rows != sorted(rows)  # the sample is shuffled, and stays in its order
    np.testing.assert_array_equal(clips.audio, np.stack([xs[r] for r in rows]))
    assert sorted(reads) == sorted(set(reads))  # rows read in stored order: no row group read twice


def test_content_hash_follows_the_files(tmp_path):
    ds, _ = make_split([0, 1, 2], 0)
    path = tmp_path / "p" / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    ds.to_parquet(str(path))
    first = open_dataset(tmp_path / "p").content_hash()
    assert open_dataset(tmp_path / "p").content_hash() == first
    make_split([0, 1, 2], 50)[0].to_parquet(str(path))  # the same labels, other audio
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert open_dataset(tmp_path / "p").content_hash() != first


def test_split_names_follow_datasets():
    assert [split_name(n) for n in ("train", "valid", "dev", "validation", "eval", "test-00000-of-00002", "other")] == [
        "train", "validation", "validation", "validation", "test", "test", None]


def test_what_is_not_a_datasets_folder_or_lacks_a_column_is_one_line(tmp_path):
    for label in ("a", "b"):
        write_wav(tmp_path / "plain" / label / "x.wav", clip(1))
    assert not is_hf_dataset(tmp_path / "plain") and detect_layout(tmp_path / "plain") == "folders"
    ds = datasets.Dataset.from_dict({"audio": [{"bytes": wav_bytes(clip(0)), "path": None}], "keyword": ["yes"]})
    ds.to_parquet(str(tmp_path / "nolabel" / "train.parquet"))
    with pytest.raises(SpcError, match=r"has no label column \(label or labels\); its columns: audio, keyword$"):
        read_hf_dataset(tmp_path / "nolabel")


def test_without_datasets_the_error_says_what_to_install(tmp_path, monkeypatch):
    make_split([0, 1], 0)[0].save_to_disk(str(tmp_path / "one"))
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets now fails
    with pytest.raises(SpcError, match=r"needs the datasets library: pip install 'spc\[hf\]'$"):
        open_dataset(tmp_path / "one")


def test_eval_on_a_datasets_folder(tmp_path):
    import json

    from spc.models import build_model, save_model

    save_model(build_model(tiny_configs()["wav2vec2"], NAMES, seed=0), tmp_path / "m")
    datasets.DatasetDict({"train": make_split([0, 1, 2], 0)[0], "test": make_split([2, 0, -1, 1, 1], 10)[0]}
                         ).save_to_disk(str(tmp_path / "hf"))
    args = ["eval", str(tmp_path / "m"), "--data", str(tmp_path / "hf"), "--split"]
    r = CliRunner().invoke(cli, args + ["test", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["n_clips"] == 4 and result["skipped"] == []
    assert {name: row["n"] for name, row in result["per_class"].items()} == {"yes": 1, "no": 2, "_silence_": 1}
    r = CliRunner().invoke(cli, args + ["validation"])
    assert r.exit_code == 1 and r.output.strip().endswith("this datasets folder holds only the train and test splits")


def test_a_calibration_manifest_of_a_datasets_folder_names_rows_and_finds_a_changed_one(tmp_path):
    from spc.calib import CalibConfig, check_manifest, load_clips_from_manifest, make_manifest, save_manifest

    parts = {name: make_split(labels, 100 * i) for i, (name, labels) in enumerate(SPLIT_LABELS.items())}
    datasets.DatasetDict({name: p[0] for name, p in parts.items()}).save_to_disk(str(tmp_path / "hf"))
    root = tmp_path / "hf"
    manifest = make_manifest(open_dataset(root), CalibConfig(3, seed=0))
    rows = [c["row"] for c in manifest["clips"]]
    assert sorted(rows) == [0, 1, 2] and {c["source_split"] for c in manifest["clips"]} == {"valid"}
    assert check_manifest(manifest, root)["ok"]
    clips = load_clips_from_manifest(manifest, root, rate=16000, clip_seconds=0.1, labels=NAMES)
    np.testing.assert_array_equal(clips.audio, np.stack([parts["valid"][1][r] for r in rows]))
    r = CliRunner().invoke(cli, ["calib", "make", "--data", str(root), "--n", "3", "--out", str(tmp_path / "cal")])
    assert r.exit_code == 0, r.output
    changed = dict(manifest)
    changed["clips"] = [dict(manifest["clips"][0], sha256="0" * 64)] + manifest["clips"][1:]
    status = check_manifest(changed, root)
    assert not status["ok"] and status["changed"] == [f".#valid/{rows[0]}"]
    assert save_manifest(manifest, tmp_path / "m").is_file()
