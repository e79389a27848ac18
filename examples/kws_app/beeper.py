"""A tiny stand-in artifact: an ONNX "beeper" that detects a tone, plus a WAV with tones at known times.

It lets the example app (and its tests) run from a clean clone with no trained model: the graph is
written with ``onnx.helper`` (no torch) and gets a manifest like ``spc export`` writes. The beeper says
``beep`` when the last half-second of its one-second window holds the energy of a whole 0.3 s tone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

RATE = 16000
TONE_SECONDS = 0.3
TONE_AMPLITUDE = 0.3
LABELS = ["_silence_", "beep"]


def beeper_graph(rate: int = RATE, level: float = 0.025, gain: float = 2000.0):
    """logits = [0, gain * (mean power of the window's last half-clip - level)] for audio (batch x samples)."""
    from onnx import TensorProto, helper

    half = rate // 2
    const = lambda name, v, t=TensorProto.FLOAT: helper.make_tensor(name, t, [len(v)], v)  # noqa: E731
    nodes = [
        helper.make_node("Slice", ["audio", "starts", "ends", "axes"], ["tail"]),
        helper.make_node("Mul", ["tail", "tail"], ["power"]),
        helper.make_node("ReduceMean", ["power"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["mean", "level"], ["excess"]),
        helper.make_node("Mul", ["excess", "gain"], ["beep"]),
        helper.make_node("Mul", ["beep", "zero"], ["silence"]),
        helper.make_node("Concat", ["silence", "beep"], ["logits"], axis=1),
    ]
    inits = [const("starts", [-half], TensorProto.INT64), const("ends", [2**62], TensorProto.INT64),
             const("axes", [1], TensorProto.INT64), const("level", [level]), const("gain", [gain]),
             const("zero", [0.0])]
    graph = helper.make_graph(nodes, "beeper", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def make_beeper(path: str | Path) -> Path:
    """Write the beeper ONNX and its manifest (labels, rate, clip length, sha256) to ``path``."""
    import onnx

    from spc.engines.artifact_manifest import write_manifest
    from spc.fileio import sha256_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(beeper_graph(), str(path))
    write_manifest(path, {"kind": "onnx", "file": path.name, "input": "audio", "outputs": ["logits"],
                          "labels": LABELS, "sampling_rate": RATE, "clip_seconds": 1.0, "sha256": sha256_file(path)})
    return path


def beeps(seconds: float, starts: list[float], noise: float = 0.001, seed: int = 0) -> np.ndarray:
    """Low noise with a 0.3 s 1 kHz tone starting at each of ``starts`` (seconds)."""
    x = noise * np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    for s in starts:
        i = int(round(s * RATE))
        x[i : i + len(t)] += TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * t)
    return x.astype(np.float32)


def make_demo(folder: str | Path, starts: tuple[float, ...] = (2.0, 5.5)) -> tuple[Path, Path]:
    """The beeper artifact and an 8 s WAV with tones at ``starts`` in ``folder``: (artifact, wav)."""
    import soundfile as sf

    folder = Path(folder)
    artifact = make_beeper(folder / "beeper.onnx")
    wav = folder / "beeps.wav"
    sf.write(str(wav), beeps(8.0, list(starts)), RATE, subtype="FLOAT")
    return artifact, wav


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where beeper.onnx (+ manifest) and beeps.wav are written")
    art, wav = make_demo(parser.parse_args().folder)
    print(f"{art}\n{wav}")
