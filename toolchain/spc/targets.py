"""Device profiles (``targets/*.toml``): loading, validation and name resolution."""

from __future__ import annotations

import os
import sys
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

from .configs import check_type
from .errors import SpcError
from .timing import ShapeProfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # JetPack 6 and the l4t-tensorrt image run Python 3.10
    import tomli as tomllib

PRECISIONS = ("fp16", "fp32")


@dataclass(frozen=True)
class Target:
    name: str
    family: str
    family_default: bool
    description: str
    backend: str
    precision: str
    gpu: str
    compute_capability: float
    gpu_names: tuple[str, ...]  # any of these in the CUDA device name matches
    sm_counts: tuple[int, ...]  # multiprocessor counts of the boards the profile is for
    board_models: tuple[str, ...]  # any of these in /proc/device-tree/model matches (Jetsons; () elsewhere)
    gpu_memory_gb: tuple[float, float]  # the GPU memory CUDA reports, GiB, as (min, max); (0, 0): any
    dla_cores: int
    use_dla: bool
    workspace_mb: int
    threads: int
    power_mode: str
    profile: ShapeProfile

    @property
    def is_gpu(self) -> bool:
        """Whether this target's backend builds for a GPU (a TensorRT engine, built on the device)."""
        from .engines.backends import for_target

        return for_target(self).gpu

    @property
    def profile_is_static(self) -> bool:
        """One shape only (min = opt = max): what DLA needs."""
        p = self.profile
        return p.min_batch == p.opt_batch == p.max_batch and p.min_seconds == p.opt_seconds == p.max_seconds

    def as_dict(self) -> dict:
        return asdict(self)

    def gpu_mismatch(self, here: dict) -> str:
        """Why the present GPU (``gpu_info()``: name, compute capability, SM count, memory, board) is not this
        target's, naming both; "" if it is. Every Orin reports "Orin" and sm 8.7: the board and memory tell them apart."""
        name = str(here.get("gpu", ""))
        cc = str(here.get("compute_capability", ""))
        sms = here.get("sm_count")
        gb = (here.get("gpu_memory_mb") or 0) / 1024
        board = str(here.get("board") or "")
        lo, hi = self.gpu_memory_gb
        gpu_same = (any(_names(n, name) for n in self.gpu_names)
                    and cc == f"{self.compute_capability:.1f}"
                    and (not self.sm_counts or sms in self.sm_counts)
                    and (hi == 0 or not gb or lo <= gb <= hi))
        if gpu_same and (not self.board_models or any(b.lower() in board.lower() for b in self.board_models)):
            return ""
        if gpu_same and not board and here.get("tegra"):
            # an L4T system whose board model cannot be read (a container without the mount): its GPU, SM count and
            # memory match this board's, which is what tells the Orins apart; accepted
            return ""
        if self.board_models and not board and here.get("tegra"):
            return (f"cannot tell which Jetson this is: the board model is unreadable here (inside a container Docker "
                    f"masks /proc/device-tree: run with -v /proc/device-tree/model:/tmp/nv_jetson_model:ro, or set "
                    f"SPC_JETSON_MODEL) and its GPU ({name}, {sms} SMs, {gb:.1f} GB) is not {self.name}'s")
        want_sm = "/".join(str(n) for n in self.sm_counts) or "any"
        here_board = f", board '{board}'" if board else (", no Jetson board" if self.board_models else "")
        want_board = f", board {' or '.join(self.board_models)}" if self.board_models else ""
        want_mem = f", {lo:g}-{hi:g} GB" if hi else ""
        here_mem = f", {gb:.1f} GB" if gb else ""
        return (f"this GPU is {name} (sm {cc}, {sms} SMs{here_mem}{here_board}) but {self.name} is {self.gpu} "
                f"(sm {self.compute_capability:.1f}, {want_sm} SMs{want_mem}{want_board})")


def _names(wanted: str, reported: str) -> bool:
    """Whether a target's GPU name part names the reported device: "H200" in "NVIDIA H200", not in
    "NVIDIA GH200 480GB" (a word, not a substring)."""
    import re

    return re.search(rf"(?<![A-Za-z0-9]){re.escape(wanted)}(?![A-Za-z0-9])", reported, re.IGNORECASE) is not None


def targets_dirs() -> list[Path]:
    """Where target files are looked for: $SPC_TARGETS_DIR, the source checkout, the installed data."""
    dirs = []
    if os.environ.get("SPC_TARGETS_DIR"):
        extra = Path(os.environ["SPC_TARGETS_DIR"])
        if not extra.is_dir():  # a typo must not fall back to the built-in targets without a word
            raise SpcError(f"SPC_TARGETS_DIR {extra} is {'a file' if extra.exists() else 'missing'}, not a folder of "
                           "target .toml files: fix it or unset it")
        dirs.append(extra)
    dirs.append(Path(__file__).resolve().parents[2] / "targets")
    dirs.append(Path(sys.prefix) / "share" / "spc" / "targets")
    return dirs


def parse_target(data: dict, source: str = "") -> Target:
    """A ``Target`` from a TOML table; every field present and in range, else a user error."""
    where = f" in {source}" if source else ""
    fields = {f for f in Target.__dataclass_fields__} - {"profile"}
    missing = sorted(fields - set(data)) + ([] if "profile" in data else ["profile"])
    if missing:
        raise SpcError(f"target{where} lacks {', '.join(missing)}")
    prof = data["profile"]
    if not isinstance(prof, dict):
        raise SpcError(f"target{where}: profile must be a table ([profile]), got {prof!r}")
    pfields = set(ShapeProfile.__dataclass_fields__)
    if sorted(pfields - set(prof)):
        raise SpcError(f"target{where} profile lacks {', '.join(sorted(pfields - set(prof)))}")
    profile_types, types = typing.get_type_hints(ShapeProfile), typing.get_type_hints(Target)
    for k in sorted(pfields):
        check_type(f"target{where}: profile.{k}", profile_types[k], prof[k])
    profile = ShapeProfile(**{k: prof[k] for k in pfields})
    values = {k: tuple(data[k]) if isinstance(data[k], list) else data[k] for k in fields}  # TOML arrays: tuples
    for k in sorted(fields):
        check_type(f"target{where}: {k}", types[k], values[k])
    t = Target(**values, profile=profile)
    problems = []
    from .engines.backends import backend_names

    if t.backend not in backend_names():  # the checks below ask the backend whether it is a GPU one
        raise SpcError(f"target '{t.name}'{where}: backend '{t.backend}' is not one of {backend_names()}")
    if t.precision not in PRECISIONS:
        problems.append(f"precision '{t.precision}' is not one of {PRECISIONS}")
    if t.is_gpu and t.precision != "fp16":
        problems.append("GPU targets build FP16 engines")
    if t.is_gpu and not (5.0 <= t.compute_capability <= 12.0):
        problems.append(f"compute capability {t.compute_capability} is out of range")
    if t.is_gpu and not t.gpu_names:
        problems.append("gpu_names must name the CUDA device (a part of the name cudaGetDeviceProperties reports)")
    if any(n < 1 for n in t.sm_counts):
        problems.append("sm_counts must be positive integers")
    if len(t.gpu_memory_gb) != 2 or not 0 <= t.gpu_memory_gb[0] <= t.gpu_memory_gb[1] <= 1024:
        problems.append("gpu_memory_gb must be [min, max] GiB with 0 <= min <= max ([0, 0]: any)")
    if not 0 <= t.dla_cores <= 2 or (t.use_dla and t.dla_cores == 0):
        problems.append("use_dla needs a board with DLA cores (0-2)")
    if t.use_dla and not t.profile_is_static:
        problems.append("use_dla needs a static shape profile (DLA has no dynamic dimensions): "
                        "min_batch = opt_batch = max_batch and min_seconds = opt_seconds = max_seconds")
    if t.is_gpu and t.workspace_mb < 64:
        problems.append("workspace_mb must be at least 64 for a TensorRT target")
    if t.threads < 0:
        problems.append("threads must be 0 (default) or more")
    p = t.profile
    if not 1 <= p.min_batch <= p.opt_batch <= p.max_batch:
        problems.append("profile needs 1 <= min_batch <= opt_batch <= max_batch")
    if not 0.1 <= p.min_seconds <= p.opt_seconds <= p.max_seconds <= 30:
        problems.append("profile needs 0.1 <= min_seconds <= opt_seconds <= max_seconds <= 30")
    if problems:
        raise SpcError(f"target '{t.name}'{where}: " + "; ".join(problems))
    return t


def load_targets() -> dict[str, Target]:
    """Every target file found, by name (earlier folders win)."""
    found: dict[str, Target] = {}
    for d in targets_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.toml")):
            if not f.is_file():  # a folder named x.toml, a dangling link
                raise SpcError(f"target file {f} is {'a folder' if f.is_dir() else 'a link to nothing'}, not a "
                               "TOML file: remove or fix it")
            try:
                data = tomllib.loads(f.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
                raise SpcError(f"cannot parse target file {f}: {str(exc).splitlines()[0]}") from None
            t = parse_target(data, str(f))
            found.setdefault(t.name, t)
    return found


def resolve_target(name: str) -> tuple[Target, str]:
    """(target, note) by board or family name; the note says which board a family name resolved to ("" for a board)."""
    targets = load_targets()
    if name in targets:
        return targets[name], ""
    family = [t for t in targets.values() if t.family == name]
    default = [t for t in family if t.family_default]
    if default:
        t = default[0]
        others = ", ".join(sorted(o.name for o in family if o is not t))
        note = f"--target {name} resolved to {t.name} ({t.description})" + (f"; other boards: {others}" if others else "")
        return t, note
    names = sorted(targets) + sorted({t.family for t in targets.values()} - set(targets))
    raise SpcError(f"unknown target '{name}'; known targets: {', '.join(names)}")


def get_target(name: str, *, quiet: bool = False) -> Target:
    """A target by board name or family name (the family's default board, said in one line on stderr)."""
    target, note = resolve_target(name)
    if note and not quiet:
        print(note, file=sys.stderr)
    return target


def target_for(here: dict, name: str = "this-gpu", profile: "ShapeProfile | None" = None,
               workspace_mb: int = 4096) -> Target:
    """A GPU target for exactly the GPU ``here`` describes (``cuda_env.gpu_info()``): its name, SM count, compute
    capability and board, any memory, so spc's own device check accepts it (tests and measurement scripts that run
    on whatever GPU they are given: re-aiming a data-centre profile while keeping its 64-144 GB range would refuse
    an RTX 4090, a Jetson or an A100-40GB)."""
    import dataclasses

    base = get_target("h100", quiet=True)
    return dataclasses.replace(
        base, name=name, family=name, family_default=False, description=f"{name}: {here['gpu']}", gpu=here["gpu"],
        gpu_names=(here["gpu"],), sm_counts=(int(here["sm_count"]),),
        compute_capability=float(here["compute_capability"]),
        board_models=(here["board"],) if here.get("board") else (), gpu_memory_gb=(0.0, 0.0), workspace_mb=workspace_mb,
        profile=profile or base.profile)

