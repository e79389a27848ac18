"""Export a model (raw audio in, logits out) to ONNX, parity-checked, simplified, and refused on disagreement.

Dynamic batch and time axes; opset 17+ (LayerNormalization is one node); weight norm folded into
plain weights; eval mode (no dropout, no layer drop). Nothing is left at the output path unless
every check passed.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..engines.artifact_manifest import derive_manifest, write_manifest
from ..errors import SpcError
from ..fileio import check_output_file, first_line, sha256_file
from .parity import ParityError, check_parity

INPUT, OUTPUT, HIDDEN = "audio", "logits", "last_hidden_state"


@dataclass(frozen=True)
class ExportConfig:
    """Settings of an export (recorded in the manifest): the graph, and the parity gate against PyTorch."""

    opset: int = 17
    with_hidden: bool = False  # also output the last hidden state
    simplify: bool = True
    parity: bool = True
    atol: float = 1e-3
    rtol: float = 1e-3
    batch_sizes: tuple[int, ...] = (1, 3)
    seconds: tuple[float, ...] = (1.0, 0.75, 1.5)
    seed: int = 0
    version: int = 1

    def __post_init__(self) -> None:
        import math

        if not 17 <= self.opset <= 21:
            raise SpcError(f"opset must be 17-21, got {self.opset}")
        if not all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in (self.atol, self.rtol)):
            raise SpcError(f"parity tolerances must be finite numbers >= 0, got atol {self.atol}, rtol {self.rtol}")
        if not self.batch_sizes or min(self.batch_sizes) < 1 or not self.seconds \
                or not all(math.isfinite(x) and 0.1 <= x <= 30 for x in self.seconds):
            raise SpcError("parity needs batch sizes >= 1 and clip lengths of 0.1-30 s")


@dataclass
class GraphStats:
    file_bytes: int
    nodes: int
    ops: dict[str, int]


@dataclass
class ExportReport:
    path: str
    sha256: str
    exporter: str
    parity: dict
    parity_simplified: dict | None
    before: GraphStats
    after: GraphStats | None
    simplifier: str | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _Exportable(nn.Module):
    """audio (B x S) -> logits (B x C) [, last hidden state (B x T x D)]."""

    def __init__(self, model, with_hidden: bool):
        super().__init__()
        self.model = model
        self.with_hidden = with_hidden

    def forward(self, audio: torch.Tensor):
        hiddens = self.model.run_stack(self.model.stack_input(audio))
        logits = self.model.logits_from_hidden(hiddens)
        return (logits, hiddens[-1]) if self.with_hidden else logits


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """Replace weight-normed convolutions (wav2vec2's positional conv) by plain ones with the weight they compute.

    The modules are rebuilt rather than un-parametrised in place: ``remove_parametrizations`` edits
    the parametrised class, which a deep copy shares with the original model.
    """
    from torch.nn.utils import parametrize

    swaps = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if parametrize.is_parametrized(child)]
    for parent, name, child in swaps:
        if not isinstance(child, nn.Conv1d):
            raise SpcError(f"cannot fold a parametrised {type(child).__name__}; only Conv1d is expected")
        plain = nn.Conv1d(child.in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                          padding=child.padding, dilation=child.dilation, groups=child.groups,
                          bias=child.bias is not None, padding_mode=child.padding_mode)
        with torch.no_grad():
            plain.weight.copy_(child.weight)
            if child.bias is not None:
                plain.bias.copy_(child.bias)
        setattr(parent, name, plain)
    return model


def graph_stats(path: Path) -> GraphStats:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    ops = Counter(n.op_type for n in m.graph.node)
    return GraphStats(path.stat().st_size, sum(ops.values()), dict(sorted(ops.items())))


def _torch_export(wrapper: nn.Module, dummy: torch.Tensor, path: Path, config: ExportConfig,
                  notes: list[str]) -> str:
    """The TorchScript exporter (the one that passes the parity gate on every family); its warnings go into
    ``notes`` (the manifest), not the user's terminal: parity on several shapes is the real check."""
    outputs = [OUTPUT, HIDDEN] if config.with_hidden else [OUTPUT]
    axes = {INPUT: {0: "batch", 1: "samples"}, OUTPUT: {0: "batch"}}
    if config.with_hidden:
        axes[HIDDEN] = {0: "batch", 1: "frames"}
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        # transformers' attention code warns about traced Python booleans that are constant here (no attention
        # mask, fixed causal=False); torch warns about constant folding of Slice and about this exporter's age
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("always", category=UserWarning)
        warnings.simplefilter("always", category=DeprecationWarning)
        warnings.simplefilter("always", category=FutureWarning)
        torch.onnx.export(wrapper, (dummy,), str(path), input_names=[INPUT], output_names=outputs,
                          dynamic_axes=axes, opset_version=config.opset, dynamo=False, do_constant_folding=True)
    counts: dict[str, int] = {}
    for w in caught:
        text = f"{w.category.__name__}: {first_line(w.message)[:200]}"
        counts[text] = counts.get(text, 0) + 1
    notes.extend(f"exporter {text}" + (f" (x{n})" if n > 1 else "") for text, n in counts.items())
    return "torchscript"


def simplify(src: Path, dst: Path, notes: list[str] | None = None) -> str:
    """onnxsim first, onnxslim where onnxsim fails (the cause goes into ``notes``); returns the tool used."""
    import onnx

    model = onnx.load(str(src))
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model)
        if not ok:
            raise RuntimeError("onnxsim's own check of the simplified graph failed")
        onnx.save(simplified, str(dst))
        return "onnxsim"
    except Exception as exc:  # onnxsim has many failure modes; onnxslim is the documented fallback, cause kept
        try:
            import onnxslim
        except ImportError:
            raise SpcError(f"cannot simplify the graph: onnxsim failed ({first_line(exc)[:200]}) and onnxslim is not "
                           "installed; install spc's training side (pip install 'spc[train]') or export with "
                           "--no-simplify") from None
        if notes is not None:
            notes.append(f"onnxsim failed ({type(exc).__name__}: {first_line(exc)[:200]}); used onnxslim")
        onnx.save(onnxslim.slim(model), str(dst))
        return "onnxslim"


TMP_PREFIX = ".export."


def _tmp_prefix(out: Path) -> str:
    """The work folder name of one export: the output's name and this process, so a rerun knows stale ones."""
    return f"{TMP_PREFIX}{out.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale(work: Path, out: Path) -> bool:
    """A work folder of an export of ``out`` whose process is gone (or an older spc's unnamed one)."""
    rest = work.name[len(TMP_PREFIX):]
    if "." not in rest:
        return True
    if not rest.startswith(out.name + "."):
        return False  # another output's export
    pid = rest[len(out.name) + 1:].split(".")[0]
    return not pid.isdigit() or not _alive(int(pid))


def remove_stale_work(out: Path) -> list[Path]:
    """Remove the work folders a killed export of ``out`` left beside it; returns them."""
    import shutil

    stale = [d for d in out.parent.glob(f"{TMP_PREFIX}*") if d.is_dir() and _stale(d, out)]
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    return stale


def export_onnx(model, out_path: str | Path, config: ExportConfig = ExportConfig(),
                audio: np.ndarray | None = None) -> ExportReport:
    """Export ``model`` to ``out_path`` (plus ``out_path.json``, the manifest) after parity checks.

    ``audio`` (N x S, the model's rate) are the clips parity is checked on; random noise is used
    where none are given. Raises ``ParityError`` (nothing written) when the graph disagrees.
    """
    out = Path(out_path)
    if out.suffix != ".onnx":
        raise SpcError(f"the output should be a .onnx file, got {out}")
    check_output_file(out)  # before the export and parity runs, not after
    t0 = time.perf_counter()
    if any(p.device.type != "cpu" for p in model.parameters()):  # trained on a GPU: export and check on the CPU
        model = copy.deepcopy(model).cpu()
    meta = model.meta
    max_len = model.adapter.max_samples(model.hf, meta)
    lengths = sorted({min(max_len, int(round(s * meta.sampling_rate))) for s in config.seconds})
    rng = np.random.default_rng(config.seed)
    if audio is None:
        audio = (0.1 * rng.standard_normal((max(config.batch_sizes), max(lengths)))).astype(np.float32)
    elif audio.shape[1] < max(lengths):
        audio = np.pad(audio, ((0, 0), (0, max(lengths) - audio.shape[1])))
    clean = fold_weight_norm(copy.deepcopy(model)).eval()
    wrapper = _Exportable(clean, config.with_hidden).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_work(out)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=_tmp_prefix(out)) as tmpdir:
        raw = Path(tmpdir) / "raw.onnx"
        dummy = torch.from_numpy(audio[:2, : meta.clip_samples if meta.clip_samples <= max_len else max_len].copy())
        notes: list[str] = []
        exporter = _torch_export(wrapper, dummy, raw, config, notes)
        parity = check_parity(model, raw, audio, config.batch_sizes, tuple(lengths), config.atol, config.rtol)
        if config.parity and not parity:
            raise ParityError(f"the exported graph disagrees with PyTorch (max |diff| {parity.max_abs_diff:.3g}, "
                              f"top-1 agreement {parity.top1_agreement:.3f}); nothing was written")
        before = graph_stats(raw)
        final, after, tool, parity2 = raw, None, None, None
        if config.simplify:
            simp = Path(tmpdir) / "simplified.onnx"
            tool = simplify(raw, simp, notes)
            parity2 = check_parity(model, simp, audio, config.batch_sizes, tuple(lengths), config.atol, config.rtol)
            if config.parity and not parity2:
                notes.append(f"{tool} output failed parity (max |diff| {parity2.max_abs_diff:.3g}); kept the unsimplified graph")
            else:
                final, after = simp, graph_stats(simp)
        digest = sha256_file(final)
        report = ExportReport(str(out), digest, exporter, parity.as_dict(), parity2.as_dict() if parity2 else None,
                              before, after, tool, round(time.perf_counter() - t0, 2), notes)
        os.replace(final, out)
        from ..models import weights_hash

        made_by = {"recipe": "export", "model": meta.source, "model_provenance": meta.provenance,
                   "weights_sha256": weights_hash(model), "stack": meta.stack}  # the config is the manifest's own
        write_manifest(out, derive_manifest(
            out, None, made_by=made_by, kind="onnx", input=INPUT,
            outputs=[OUTPUT, HIDDEN] if config.with_hidden else [OUTPUT], labels=model.labels,
            sampling_rate=meta.sampling_rate, clip_seconds=meta.clip_seconds, max_samples=max_len, family=meta.family,
            source=meta.source, opset=config.opset, export=report.as_dict(), config=asdict(config)))
    return report
