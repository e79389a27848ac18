"""``spc stream-eval``: artifacts judged as detectors on long recordings, at the operating point each carries (no torch)."""

from __future__ import annotations

from pathlib import Path

import click

from .group import cli, print_lines
from .options import (CSV, CSV_FLOAT, SEED, STREAM_CFG, THREADS, Finite, cfg_option, config_file_option, data_config, data_flags,
                      detector_options, make_config)


@cli.command(name="stream-eval")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (its test split is read).")
@click.option("--out", "out_dir", default="stream-eval", show_default=True, type=click.Path(),
              help="Folder for stream_eval.json, det.png, recordings.json and the cached scores.")
@detector_options(STREAM_CFG)
@cfg_option(STREAM_CFG, "noise_db", "--noise-db", type=Finite(-90, -10), help="Background noise level (dBFS).")
@cfg_option(STREAM_CFG, "colours", "--colours", type=CSV, help="Background noise scenes: white, pink, brown, babble.")
@cfg_option(STREAM_CFG, "gap_seconds", "--gap", type=CSV_FLOAT, help="Min,max seconds between clips.")
@cfg_option(STREAM_CFG, "repeats", "--repeats", type=click.IntRange(1, 100),
            help="Use every test clip this many times (more occurrences, other SNRs and gaps; the same clips).")
@cfg_option(STREAM_CFG, "bootstrap", "--bootstrap", type=click.IntRange(0, 100000), help="Resamples of the intervals.")
@cfg_option(STREAM_CFG, "seed", "--seed", type=SEED)
@cfg_option(STREAM_CFG, "threads", "--threads", type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
@config_file_option
@click.option("--negatives", "negatives_dir", type=click.Path(),
              help="A folder of your own long non-keyword recordings: the test streams' negatives instead of espeak-ng.")
@click.option("--noise", "noise_dir", type=click.Path(), help="A folder of your own background noise recordings.")
@data_flags
@click.pass_context
def stream_eval(ctx, artifacts, data_dir, out_dir, config_file, negatives_dir, noise_dir, **_):
    """Misses and false accepts per hour of ARTIFACTS run as an app runs them, at the operating point each carries.

    Builds seeded streams from the test split: every clip at an SNR drawn from --snr-db over background noise
    (several colours and babble), the split's non-keyword clips among the keywords, plus your own keyword-free
    recordings (--negatives) and, only if asked, --synthetic-negatives hours of espeak-ng speech (one false
    accept = 1/hours per hour; a budget the audio cannot resolve is said instead of a miss rate). Each artifact is read at the operating point its manifest carries (spc compress chose it on
    validation); an artifact without one gets one chosen here on the validation split's streams, and the
    output says so. The best point on test itself (the oracle) is shown beside it, labelled. Scores are
    cached in OUT/scores by content, so a second run reads them back.

    \b
    Examples:
      spc stream-eval report/artifacts/mimic.cpu.ort.onnx --data kws-data --out stream
      spc stream-eval teacher.onnx student.onnx --data kws-data --keywords 0,1,2 --out both
      spc stream-eval model.onnx --data kws-data --negatives my-kitchen-recordings/ --noise my-fan-noise/
      spc stream-eval model.onnx --data kws-data --synthetic-negatives 10 --validation-synthetic-negatives 5
      spc stream-eval model.onnx --data kws-data --config stream/stream_eval.json   # the same settings again
    """
    from ..streaming.evaluation import evaluate_streams, stream_eval_lines

    config = make_config(ctx, STREAM_CFG, config_file)
    named = {}
    for a in artifacts:
        named[Path(a).name if Path(a).name not in named else a] = a
    s = evaluate_streams(named, data_config(ctx), out_dir, config=config, negatives_dir=negatives_dir,
                         noise_dir=noise_dir)
    print_lines(stream_eval_lines(s))
