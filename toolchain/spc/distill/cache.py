"""Teacher outputs computed once and reused every epoch: in memory under a budget, else memory-mapped on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..progress import track


def teacher_features(teacher, student, audio: np.ndarray, layers: list[int], batch_size: int, device, cache_mb: int,
                     disk_dir: Path, show_progress: bool = True, what: str = "teacher outputs") -> dict:
    """The student's stack input ("input") and the teacher's hidden states ``layers`` for every clip.

    Each is N x T x D float32, held in memory where all fit in ``cache_mb``, else memory-mapped
    files in ``disk_dir``. The front is frozen, so these never change during training.
    """
    n = len(audio)
    teacher = teacher.to(device).eval()
    student = student.to(device)
    out: dict = {}
    with torch.inference_mode():
        probe = teacher.stack_input(torch.from_numpy(audio[:1]).to(device))
    t, d = probe.shape[1], probe.shape[2]
    keys = ["input"] + list(layers)
    total_mb = n * t * d * 4 * len(keys) / 2**20
    for i in keys:
        if total_mb <= cache_mb:
            out[i] = np.empty((n, t, d), dtype=np.float32)
        else:
            disk_dir.mkdir(parents=True, exist_ok=True)
            out[i] = np.lib.format.open_memmap(disk_dir / f"{what.replace(' ', '_')}_{i}.npy", mode="w+",
                                               dtype=np.float32, shape=(n, t, d))
    with torch.inference_mode():
        for s in track(range(0, n, batch_size), f"caching {what}", show=show_progress):
            x = torch.from_numpy(audio[s : s + batch_size]).to(device)
            hs = teacher.hidden_states(x)
            out["input"][s : s + len(x)] = student.stack_input(x).float().cpu().numpy()
            for i in layers:
                out[i][s : s + len(x)] = hs[i].float().cpu().numpy()
    return out
