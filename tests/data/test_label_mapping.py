"""Classes matched by name: the same set in another order maps without asking; a subset only when asked."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import tiny_configs
from spc.data import load_clips, map_labels, open_dataset
from spc.data.clips import LabelOrder, LabelSubsetError
from spc.cli import cli
from spc.errors import SpcError


def test_identical_lists_pass_with_no_note():
    order = map_labels(["a", "b"], ["a", "b"])
    assert order == ["a", "b"] and order.mode == "identical" and order.note is None


def test_the_same_classes_in_another_order_map_by_name_without_asking():
    order = map_labels(["b", "c", "a"], ["a", "b", "c"])
    assert isinstance(order, LabelOrder) and order == ["b", "c", "a"]  # loaded in the model's order
    assert order.mode == "by_name"
    assert order.note == "classes matched by name: the data's 3 classes are the model's in another order"
    record = order.record()
    assert record == {"mode": "by_name", "model_labels": ["b", "c", "a"], "data_labels": ["a", "b", "c"],
                      "note": order.note}
    json.dumps(record)


def test_a_subset_maps_only_when_asked_and_the_error_names_no_option():
    with pytest.raises(LabelSubsetError) as err:
        map_labels(["a", "b", "c"], ["c", "a"])
    assert str(err.value) == "the data holds only 2 of the model's 3 classes (not in the data: b)"
    assert "--" not in str(err.value)
    with pytest.raises(LabelSubsetError, match=r"\(not in the data: b\); ask nicely$"):
        map_labels(["a", "b", "c"], ["c", "a"], hint="ask nicely")
    order = map_labels(["a", "b", "c"], ["c", "a"], by_name=True)
    assert order == ["a", "b", "c"] and order.mode == "subset"
    assert order.note == "classes matched by name: the data holds 2 of the model's 3 classes (not in the data: b)"


def test_unknown_classes_are_an_error_whatever_is_asked():
    for by_name in (False, True):
        with pytest.raises(SpcError, match=r"the data has classes the model does not know: z \(the model's classes: a, b\)$"):
            map_labels(["a", "b"], ["a", "z"], by_name=by_name)


def test_clips_loaded_by_name_carry_the_model_index_of_their_folder(tone_dataset):
    ds = open_dataset(tone_dataset)
    model_order = ["mid", "high", "low"]
    clips = load_clips(ds, "test", labels=map_labels(model_order, ds.labels), show_progress=False)
    for path, target in zip(clips.paths, clips.targets):
        assert model_order[target] == path.split("/")[-2]  # the folder is the class
    assert clips.label_mapping["mode"] == "by_name"
    assert clips.subset([0, 1]).label_mapping == clips.label_mapping
    assert load_clips(ds, "test", show_progress=False).label_mapping is None


@pytest.fixture
def shuffled_model(tmp_path):
    """A tiny model whose classes are the tone data's in another order (as a hub model's id2label often is)."""
    from spc.models import build_model, save_model

    save_model(build_model(tiny_configs()["wav2vec2"], ["mid", "low", "high"], seed=0), tmp_path / "m")
    return tmp_path / "m"


def test_eval_maps_a_shuffled_model_by_name_and_says_so(tmp_path, tone_dataset, shuffled_model):
    result = CliRunner().invoke(cli, ["eval", str(shuffled_model), "--data", str(tone_dataset), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["label_mapping"]["mode"] == "by_name" and report["labels"] == ["mid", "low", "high"]
    notes = [line for line in result.stderr.splitlines() if line.strip()]
    assert notes == ["note: classes matched by name: the data's 3 classes are the model's in another order"]


def test_eval_on_a_subset_names_the_option_it_has(tmp_path, tone_dataset, shuffled_model):
    import shutil

    shutil.rmtree(tone_dataset / "test" / "mid")
    shutil.rmtree(tone_dataset / "train" / "mid")
    shutil.rmtree(tone_dataset / "validation" / "mid")
    result = CliRunner().invoke(cli, ["eval", str(shuffled_model), "--data", str(tone_dataset)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: the data holds only 2 of the model's 3 classes (not in the data: mid); "
                     "add --map-labels to score the model on these classes only"]
    result = CliRunner().invoke(cli, ["eval", str(shuffled_model), "--data", str(tone_dataset), "--map-labels",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label_mapping"]["mode"] == "subset"


def test_bench_maps_a_shuffled_model_by_name(tmp_path, tone_dataset, shuffled_model):
    result = CliRunner().invoke(cli, ["bench", str(shuffled_model), "--target", "cpu", "--data", str(tone_dataset),
                                      "--runs", "2", "--warmup", "1", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "note: classes matched by name" in result.stderr and "--map-labels" not in result.output
    saved = json.loads((tmp_path / "b.json").read_text())
    assert [m["mode"] for m in saved["label_mapping"].values()] == ["by_name"]
