"""Target profiles: DLA only with a static profile (point 11), GPU identity (point 5), Python 3.10 loading (point 1)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

pytestmark = pytest.mark.device

from spc.errors import SpcError
from spc.targets import get_target, load_targets, parse_target, resolve_target, targets_dirs


def _table(name: str) -> dict:
    import tomllib

    folder = next(d for d in targets_dirs() if (d / f"{name}.toml").is_file())
    return tomllib.loads((folder / f"{name}.toml").read_text())


def test_dla_needs_a_static_shape_profile():
    nx = _table("jetson-orin-nx")
    with pytest.raises(SpcError, match="use_dla needs a static shape profile"):
        parse_target({**nx, "use_dla": True})
    static = {**nx, "use_dla": True, "profile": {"min_batch": 1, "opt_batch": 1, "max_batch": 1,
                                                 "min_seconds": 1.0, "opt_seconds": 1.0, "max_seconds": 1.0}}
    assert parse_target(static).use_dla and parse_target(static).profile_is_static
    assert all(not t.use_dla or t.profile_is_static for t in load_targets().values())


def test_gpu_identity_is_name_compute_capability_sm_count_memory_and_board():
    nano = get_target("jetson-orin-nano")
    here = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": 8, "gpu_memory_mb": 7620,
            "board": "NVIDIA Jetson Orin Nano Developer Kit"}
    assert nano.gpu_mismatch(here) == ""
    assert "4 SMs" in nano.gpu_mismatch({**here, "sm_count": 4})
    assert "no Jetson board" in nano.gpu_mismatch({**here, "board": ""})
    assert "15.3 GB" in nano.gpu_mismatch({**here, "gpu_memory_mb": 15667})  # an Orin NX 16GB module
    assert get_target("jetson-orin-nx").gpu_mismatch({**here, "gpu_memory_mb": 15667, "board": "Orin NX"}) == ""
    assert "RTX 4090" in nano.gpu_mismatch({"gpu": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9", "sm_count": 128})
    assert get_target("h100").gpu_mismatch({"gpu": "NVIDIA H200", "compute_capability": "9.0", "sm_count": 132,
                                            "gpu_memory_mb": 143_000}) == ""
    with pytest.raises(SpcError, match="gpu_names must name the CUDA device"):
        parse_target({**_table("rtx-4090"), "gpu_names": []})


@pytest.mark.parametrize("field, value, message", [
    ("gpu_names", 5, "gpu_names must be a list \\(str items\\), got 5"),
    ("sm_counts", ["8"], "sm_counts must be a list \\(int items\\)"),
    ("compute_capability", "8.9", "compute_capability must be a number, got '8.9'"),
    ("use_dla", 1, "use_dla must be true or false, got 1"),
])
def test_a_field_of_the_wrong_type_is_one_line_naming_it(field, value, message):
    with pytest.raises(SpcError, match=message):
        parse_target({**_table("rtx-4090"), field: value}, "x.toml")
    bad = _table("rtx-4090")
    bad["profile"] = {**bad["profile"], "max_batch": "8"}
    with pytest.raises(SpcError, match=r"target in x.toml: profile.max_batch must be an integer, got '8'"):
        parse_target(bad, "x.toml")


def test_a_target_file_of_random_bytes_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "bad.toml").write_bytes(bytes(range(256)))
    monkeypatch.setenv("SPC_TARGETS_DIR", str(tmp_path))
    with pytest.raises(SpcError, match=r"cannot parse target file .*bad.toml"):
        load_targets()


def test_a_family_name_says_which_board(capsys):
    target, note = resolve_target("jetson-orin")
    assert target.name == "jetson-orin-nano"
    assert note.startswith("--target jetson-orin resolved to jetson-orin-nano (Jetson Orin Nano 8GB")
    assert "jetson-agx-orin, jetson-orin-nx" in note
    get_target("jetson-orin")
    assert capsys.readouterr().err.strip() == note
    get_target("jetson-orin-nx")
    assert capsys.readouterr().err == ""


def test_targets_load_on_python_310_through_tomli(monkeypatch):
    """Load targets.py as Python 3.10 would: no tomllib, tomli in its place."""
    import tomllib

    monkeypatch.setattr(sys, "version_info", (3, 10, 12, "final", 0))
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib -> ImportError, as on 3.10
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    spec = importlib.util.spec_from_file_location("spc._targets_py310", sys.modules["spc.targets"].__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.tomllib is tomllib and "jetson-orin-nano" in module.load_targets()
