"""Model outputs computed once and reused every epoch: hidden states of frozen parts, and a teacher's logits."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .progress import track


def cache_outputs(model, audio: np.ndarray, states: Sequence[int], *, logits: bool = False, batch_size: int = 64,
                  device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, show_progress: bool = True,
                  what: str = "caching model outputs") -> dict:
    """Hidden states ``states`` (indices, see ``models.parts``) of every clip, each N x T x D in ``dtype``
    on the CPU, and with ``logits`` the model's logits (N x C, float32) under the key ``"logits"``.

    Only the layers up to the deepest state asked for are run, unless the logits are wanted.
    """
    model = model.to(device).eval()
    deepest = model.num_layers if logits else max(states)
    out: dict = {i: [] for i in states}
    if logits:
        out["logits"] = []
    with torch.inference_mode():
        for s in track(range(0, len(audio), batch_size), what, show=show_progress):
            x = torch.from_numpy(np.ascontiguousarray(audio[s : s + batch_size])).to(device)
            hs = model.run_stack(model.stack_input(x), range(deepest))
            for i in states:
                out[i].append(hs[i].to("cpu", dtype))
            if logits:
                out["logits"].append(model.logits_from_hidden(hs).float().cpu())
    return {k: torch.cat(v) for k, v in out.items()}
