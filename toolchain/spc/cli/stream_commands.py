"""``spc stream-eval``: artifacts judged as detectors on long recordings (no torch)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SpcError
from ..fileio import check_output_dir, read_json
from ..runtime import STREAM
from .group import cli, print_lines
from .options import (Finite, HOP, NON_NEGATIVE_FLOAT, POSITIVE, SEED, THREADS, data_config, data_flags)


@cli.command(name="stream-eval")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (its test split is used).")
@click.option("--out", "out_dir", default="stream-eval", show_default=True, type=click.Path(),
              help="Folder for stream_eval.json, det.png and recordings.json.")
@click.option("--keywords", help="Comma-separated keyword classes (default: all but _silence_/_unknown_); "
              "the other classes are non-keywords.")
@click.option("--max-fa-per-hour", default=1.0, show_default=True, type=NON_NEGATIVE_FLOAT,
              help="Choose the threshold with the fewest misses at or under this many false accepts per hour.")
@click.option("--thresholds", help="Comma-separated detection thresholds (default: 0.3 ... 0.999999, fine near 1).")
@click.option("--hop", default=STREAM.hop_seconds, show_default=True, type=HOP, help="Window hop (s).")
@click.option("--smooth", default=STREAM.smooth, show_default=True, type=POSITIVE, help="Posteriors averaged over this many windows.")
@click.option("--refractory", default=STREAM.refractory_seconds, show_default=True, type=NON_NEGATIVE_FLOAT, help="Seconds between detections.")
@click.option("--gap", default="0.5,3.0", show_default=True, help="Min,max seconds of background noise between clips.")
@click.option("--noise-rms", default=0.003, show_default=True, type=NON_NEGATIVE_FLOAT, help="Background (pink) noise level.")
@click.option("--repeats", default=1, show_default=True, type=POSITIVE, help="Use every test clip this many times "
              "(more hours, reshuffled gaps and noise; the same clips).")
@click.option("--chunk-ms", default=100, show_default=True, type=POSITIVE, help="Audio pushed per call, as an app would.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--threads", default=0, show_default=True, type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
@click.option("--negatives", "negatives_dir", type=click.Path(),
              help="A folder of your own long non-keyword recordings, added as recordings of their own.")
@click.option("--negatives-hours", default=0.0, show_default=True, type=Finite(0, 100),
              help="Hours of keyword-free speech spoken offline by espeak-ng (cached in OUT/negatives) to add.")
@data_flags
def stream_eval(artifacts, data_dir, out_dir, keywords, max_fa_per_hour, thresholds, hop, smooth, refractory, gap,
                noise_rms, repeats, chunk_ms, seed, threads, negatives_dir, negatives_hours, layout, split_by,
                test_speaker, task):
    """Misses, false accepts per hour, latency and real-time factor of ARTIFACTS run live on long recordings.

    Builds seeded recordings from the test split (keyword and non-keyword clips between gaps of noise;
    recordings.json gives every clip's position), streams them through spc.runtime.StreamingSpotter
    and reports every threshold, a DET curve (det.png) and the threshold that meets --max-fa-per-hour.

    \b
    Examples:
      spc stream-eval fsdd.onnx --data ../shared/data/fsdd --keywords 0,1 --out fsdd-stream
      spc stream-eval model.onnx --data kws-data --negatives-hours 2 --out stream   # 2 h more negative audio
      spc stream-eval model.onnx --data kws-data --negatives my-kitchen-recordings/
      spc stream-eval report/artifacts/pruned.cpu.ort.onnx --data speech_commands_v0.02 --task v2-12
    """
    from ..streaming.evaluation import DEFAULT_THRESHOLDS, StreamEvalConfig, stream_eval_lines, stream_figures

    def floats(text, what):
        try:
            return tuple(float(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise SpcError(f"{what} must be comma-separated numbers, got '{text}'") from None

    gaps = floats(gap, "--gap")
    if len(gaps) != 2:
        raise SpcError(f"--gap must be MIN,MAX seconds, got '{gap}'")
    config = StreamEvalConfig(
        keywords=tuple(k.strip() for k in keywords.split(",") if k.strip()) if keywords else None, hop_seconds=hop,
        smooth=smooth, refractory_seconds=refractory,
        thresholds=floats(thresholds, "--thresholds") if thresholds else DEFAULT_THRESHOLDS,
        max_fa_per_hour=max_fa_per_hour, gap_seconds=gaps, noise_rms=noise_rms, repeats=repeats, seed=seed,
        chunk_seconds=chunk_ms / 1000, threads=threads)
    named = {}
    for a in artifacts:
        named[Path(a).name if Path(a).name not in named else a] = a
    data = data_config(click.get_current_context())
    negatives, source = [], None
    if negatives_dir or negatives_hours:
        from ..engines.artifact_manifest import manifest_path
        from ..streaming.negatives import negative_audio
        from ..streaming.evaluation import split_classes

        check_output_dir(out_dir)
        rate = int(read_json(manifest_path(artifacts[0]), "artifact manifest").get("sampling_rate", 16000))
        kws, _ = split_classes(data.open().labels, config.keywords)
        negatives, source = negative_audio(rate, folder=negatives_dir, hours=negatives_hours,
                                           cache=Path(out_dir) / "negatives", exclude_words=kws, seed=seed)
    s = stream_figures(named, data, out_dir, config=config, negatives=negatives, negatives_source=source)
    print_lines(stream_eval_lines(s))
