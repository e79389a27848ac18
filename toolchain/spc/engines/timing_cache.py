"""TensorRT timing caches keyed by GPU and TensorRT version: one that does not fit is ignored with a note."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def timing_cache_path(folder: str | Path, gpu: dict, trt_version: str) -> Path:
    """``timing-<gpu>-sm<cc>-<n>sm-<mem>gb[-<board>]-trt<version>.cache`` in ``folder``: a cache never meets another
    GPU by name, nor another board of the same GPU (Orin Nano 8 GB and Orin NX 16 GB both report an 8-SM "Orin")."""
    slug = _slug(gpu.get("gpu", "gpu")) or "gpu"
    cc = str(gpu.get("compute_capability", "")).replace(".", "")
    mem = round((gpu.get("gpu_memory_mb") or 0) / 1024)
    board = _slug(gpu.get("board") or "").removeprefix("nvidia-").removeprefix("jetson-")
    return Path(folder) / (f"timing-{slug}-sm{cc}-{gpu.get('sm_count', 0)}sm-{mem}gb{'-' + board if board else ''}"
                           f"-trt{trt_version}.cache")


def attach_timing_cache(config, path: Path, note: Callable[[str], None]) -> None:
    """Give ``config`` the cache stored at ``path`` (or a fresh one); a damaged or foreign cache is noted and ignored."""
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if cache is not None and config.set_timing_cache(cache, False):
        return
    if blob:
        note(f"timing cache {path.name} was made for another GPU or TensorRT version (or is damaged): ignored")
        cache = config.create_timing_cache(b"")
        if cache is not None and config.set_timing_cache(cache, False):
            return
    note("TensorRT refused a fresh timing cache: building without one")


def save_timing_cache(config, path: Path, note: Callable[[str], None]) -> bool:
    """Write the builder's timing cache to ``path`` atomically; a missing cache or a write error is only a note."""
    cache = config.get_timing_cache()
    if cache is None:
        note("TensorRT returned no timing cache: none saved")
        return False
    blob = cache.serialize()
    if blob is None:
        note("TensorRT could not serialise the timing cache: none saved")
        return False
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(bytes(blob))
        os.replace(tmp, path)
    except OSError as exc:
        note(f"timing cache not saved to {path}: {exc.strerror or exc}")
        return False
    return True
