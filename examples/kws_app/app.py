"""A keyword-spotting app on spc.runtime: microphone, WAV file or stdin in, detections with their latency out.

    python examples/kws_app/app.py --demo /tmp/kws                         # a tiny beeper artifact + WAV, then run
    python examples/kws_app/app.py --artifact model.onnx --wav rec.wav     # an spc export / spc build artifact
    arecord -q -f S16_LE -r 16000 -c 1 | python examples/kws_app/app.py --artifact model.onnx --stdin
    python examples/kws_app/app.py --artifact model.jetson-orin-nano.engine   # microphone (sounddevice)

The same code runs an ONNX artifact on a CPU and a TensorRT engine on a Jetson: it uses only
``spc.runtime`` (no torch). Each detection line gives the window end in stream time (the earliest the
keyword could be reported; ``spc stream-eval`` measures it against known keyword ends) and the wall-clock
processing time after the chunk that completed the window arrived.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from spc.runtime import NON_KEYWORDS, Detection, KeywordSpotter, StreamingSpotter


def microphone() -> str | None:
    """None where a microphone can be read (sounddevice importable and an input device present), else why not."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
        return f"sounddevice is not usable ({type(exc).__name__})"
    try:
        sd.query_devices(kind="input")
    except Exception as exc:  # noqa: BLE001 - PortAudio raises its own error types
        return f"no input device ({exc})"
    return None


def wav_chunks(path: str, rate: int, chunk: int) -> Iterator[np.ndarray]:
    """A WAV file (any rate, mixed to mono, resampled to ``rate``) in chunks of ``chunk`` samples."""
    from spc.audio import read_audio

    x = read_audio(path, rate)
    for i in range(0, len(x), chunk):
        yield x[i : i + chunk]


def stdin_chunks(chunk: int) -> Iterator[np.ndarray]:
    """Raw 16-bit little-endian mono PCM at the model's rate from stdin, in chunks of ``chunk`` samples."""
    stream = sys.stdin.buffer
    while True:
        data = stream.read(2 * chunk)
        if len(data) < 2:
            return
        yield np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def mic_chunks(rate: int, chunk: int) -> Iterator[np.ndarray]:
    """The default input device, mono float32, until Ctrl-C."""
    import queue

    import sounddevice as sd

    q: queue.Queue = queue.Queue()
    with sd.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=chunk,
                        callback=lambda data, frames, t, status: q.put(data[:, 0].copy())):
        print(f"listening on {sd.query_devices(kind='input')['name']} (Ctrl-C to stop)", flush=True)
        while True:
            yield q.get()


def detection_line(d: Detection, chunk_s: float, live: bool) -> str:
    """One printed detection: where it is, when it was emitted, what it cost."""
    line = (f"{d.end_s:8.2f} s  {d.label:<12} score {d.score:.3f}  (window end in stream time; "
            f"processing {1000 * d.compute_s:.1f} ms")
    return line + (f" + up to {1000 * chunk_s:.0f} ms of chunk buffering)" if live else ")")


def run(spotter: StreamingSpotter, chunks: Iterator[np.ndarray], chunk_s: float, live: bool) -> list[Detection]:
    """Push every chunk, print each detection as it comes, then a summary line."""
    found, audio_s, busy = [], 0.0, 0.0
    try:
        for c in chunks:
            t0 = time.perf_counter()
            new = spotter.push(c)
            busy += time.perf_counter() - t0
            audio_s += len(c) / spotter.sampling_rate
            for d in new:
                print(detection_line(d, chunk_s, live), flush=True)
            found += new
        found_tail = spotter.flush()
        for d in found_tail:
            print(detection_line(d, chunk_s, live), flush=True)
        found += found_tail
    except KeyboardInterrupt:
        pass
    rtf = busy / audio_s if audio_s else 0.0
    print(f"{len(found)} detections in {audio_s:.2f} s of audio; real-time factor {rtf:.4f}", flush=True)
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifact", help="an spc artifact: model.onnx, *.cpu.ort.onnx or *.engine (manifest beside it)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--wav", help="read this audio file instead of the microphone")
    src.add_argument("--stdin", action="store_true", help="read raw s16le mono PCM at the model's rate from stdin")
    p.add_argument("--demo", metavar="DIR", help="make a tiny beeper artifact and a WAV with two tones in DIR and run on them")
    p.add_argument("--keywords", help="comma-separated classes to report (default: all but _silence_/_unknown_)")
    p.add_argument("--threshold", type=float, help="detection threshold (default: the artifact's operating point)")
    p.add_argument("--hop", type=float, help="window hop in seconds (default: the artifact's)")
    p.add_argument("--smooth", type=int, help="posteriors averaged over this many windows (default: the artifact's)")
    p.add_argument("--refractory", type=float, help="seconds between two detections (default: the artifact's)")
    p.add_argument("--chunk-ms", type=int, default=100, help="audio per push, as a sound card delivers it")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.demo:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from beeper import make_demo

        a.artifact, a.wav = map(str, make_demo(a.demo))
        print(f"demo: {a.artifact} on {a.wav} (tones end at 2.30 s and 5.80 s)")
    if not a.artifact:
        print("error: pass --artifact (an spc export / spc build output) or --demo DIR", file=sys.stderr)
        return 2
    if not a.wav and not a.stdin and (why := microphone()):
        print(f"error: no microphone: {why}; pass --wav FILE or --stdin", file=sys.stderr)
        return 2
    with KeywordSpotter(a.artifact) as model:
        keep = [k.strip() for k in a.keywords.split(",")] if a.keywords else None
        ignore = tuple(x for x in model.labels if (x not in keep if keep else x in NON_KEYWORDS))
        spotter = StreamingSpotter(model, hop_seconds=a.hop, smooth=a.smooth, threshold=a.threshold,
                                   refractory_seconds=a.refractory, ignore=ignore)
        chunk = max(1, int(a.chunk_ms * spotter.sampling_rate / 1000))
        print(f"{a.artifact}: {len(model.labels)} classes at {spotter.sampling_rate} Hz"
              + (f", ignoring {', '.join(ignore)}" if ignore else ""), flush=True)
        print(f"operating point: {spotter.point_source}: {spotter.point.describe()}", flush=True)
        if a.wav:
            chunks = wav_chunks(a.wav, spotter.sampling_rate, chunk)
        elif a.stdin:
            chunks = stdin_chunks(chunk)
        else:
            chunks = mic_chunks(spotter.sampling_rate, chunk)
        run(spotter, chunks, a.chunk_ms / 1000, live=not a.wav)
    return 0


if __name__ == "__main__":
    sys.exit(main())
