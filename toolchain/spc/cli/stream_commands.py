"""``spc stream-eval``: artifacts judged as detectors on long recordings (no torch)."""

from __future__ import annotations

from pathlib import Path

import click

from ..fileio import check_output_dir, read_json
from .group import cli, print_lines
from .options import (CSV, CSV_FLOAT, HOP, NON_NEGATIVE_FLOAT, POSITIVE, SEED, STREAM_CFG, THREADS, Finite,
                      cfg_option, config_file_option, data_config, data_flags, make_config)


@cli.command(name="stream-eval")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (its test split is used).")
@click.option("--out", "out_dir", default="stream-eval", show_default=True, type=click.Path(),
              help="Folder for stream_eval.json, det.png and recordings.json.")
@cfg_option(STREAM_CFG, "keywords", "--keywords", type=CSV,
            help="Comma-separated keyword classes (default: all but _silence_/_unknown_); the other classes are "
                 "non-keywords.")
@cfg_option(STREAM_CFG, "max_fa_per_hour", "--max-fa-per-hour", type=NON_NEGATIVE_FLOAT,
            help="Choose the threshold with the fewest misses at or under this many false accepts per hour.")
@cfg_option(STREAM_CFG, "thresholds", "--thresholds", type=CSV_FLOAT,
            help="Comma-separated detection thresholds (fine near 1).")
@cfg_option(STREAM_CFG, "hop_seconds", "--hop", type=HOP, help="Window hop (s).")
@cfg_option(STREAM_CFG, "smooth", "--smooth", type=POSITIVE, help="Posteriors averaged over this many windows.")
@cfg_option(STREAM_CFG, "refractory_seconds", "--refractory", type=NON_NEGATIVE_FLOAT, help="Seconds between detections.")
@cfg_option(STREAM_CFG, "gap_seconds", "--gap", type=CSV_FLOAT, help="Min,max seconds of background noise between clips.")
@cfg_option(STREAM_CFG, "noise_rms", "--noise-rms", type=NON_NEGATIVE_FLOAT, help="Background (pink) noise level.")
@cfg_option(STREAM_CFG, "repeats", "--repeats", type=POSITIVE,
            help="Use every test clip this many times (more hours, reshuffled gaps and noise; the same clips).")
@cfg_option(STREAM_CFG, "max_clips", "--max-clips", type=POSITIVE,
            help="Build the keyword recordings from at most this many test clips (a seeded, class-balanced sample).")
@cfg_option(STREAM_CFG, "chunk_seconds", "--chunk-seconds", type=HOP, help="Audio pushed per call, as an app would.")
@cfg_option(STREAM_CFG, "seed", "--seed", type=SEED)
@cfg_option(STREAM_CFG, "threads", "--threads", type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
@config_file_option
@click.option("--negatives", "negatives_dir", type=click.Path(),
              help="A folder of your own long non-keyword recordings, added as recordings of their own.")
@click.option("--negatives-hours", default=0.0, show_default=True, type=Finite(0, 100),
              help="Hours of keyword-free speech spoken offline by espeak-ng (cached in OUT/negatives) to add.")
@data_flags
@click.pass_context
def stream_eval(ctx, artifacts, data_dir, out_dir, config_file, negatives_dir, negatives_hours, **_):
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
      spc stream-eval model.onnx --data kws-data --config stream-eval/stream_eval.json   # the same settings again
    """
    from ..streaming.evaluation import stream_eval_lines, stream_figures

    config = make_config(ctx, STREAM_CFG, config_file)
    seed = config.seed
    named = {}
    for a in artifacts:
        named[Path(a).name if Path(a).name not in named else a] = a
    data = data_config(ctx)
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
