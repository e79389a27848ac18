"""Choosing a checkpoint as a detector: keyword recall at a false-accept budget on small, fixed validation streams.

The streams are made from the validation clips as ``spc stream-eval`` makes them (every clip at the streams' SNRs
over noise of several colours and babble; no hours of negatives: the validation split's own non-keyword clips and
the noise between clips make the false accepts), cut into windows every ``hop`` once. A checkpoint is scored by
the share of keyword occurrences it hits at the lowest threshold whose false accepts stay within the budget those
few minutes resolve (at least ``MIN_EVENTS`` false accepts' worth), at the runtime's default smoothing and refractory
period: the decisions ``spc.streaming.reading`` makes, on the checkpoint's own window posteriors.
"""

from __future__ import annotations

import numpy as np

from ..streaming.evaluation import StreamEvalConfig
from ..streaming.operating_point import DEFAULT
from ..streaming.reading import MIN_EVENTS, lowest_threshold, make_view, read_at
from ..streaming.scoring import StreamScores
from ..streaming.streams import build_streams


class DetectorSelection:
    """Windows (W x S) of the validation streams, and the recall a set of window posteriors reaches on them."""

    def __init__(self, audio: np.ndarray, names: list[str], paths: list[str], labels: list[str], keywords: list[str],
                 rate: int, *, budget: float = 1.0, seed: int = 0, hop_seconds: float = 0.2):
        clip = audio.shape[1]
        cfg = StreamEvalConfig(keywords=tuple(keywords), hop_seconds=hop_seconds, synthetic_hours=0.0,
                               validation_synthetic_hours=0.0, seed=seed, bootstrap=0, live_seconds=0.0)
        self.streams = build_streams("validation", audio, names, paths, list(keywords), rate, clip, cfg)
        hop = max(1, int(round(hop_seconds * rate)))
        cuts = [np.stack([r.audio[s : s + clip] for s in range(0, len(r.audio) - clip + 1, hop)])
                for r in self.streams.recordings]
        self.counts = [len(c) for c in cuts]
        self.audio = np.concatenate(cuts)
        self.labels, self.hop_seconds = list(labels), hop_seconds
        hours = sum(r.seconds for r in self.streams.recordings) / 3600
        self.budget = max(budget, MIN_EVENTS / max(hours, 1e-9))

    def recall(self, posteriors: np.ndarray) -> float:
        """Keyword occurrences hit at the lowest threshold within the budget (0 where none meets it)."""
        parts = np.split(np.asarray(posteriors, np.float64), np.cumsum(self.counts)[:-1])
        seconds = sum(r.seconds for r in self.streams.recordings)
        view = make_view(self.streams, StreamScores(parts, self.labels, self.hop_seconds, 0.0, seconds, True))
        point = DEFAULT.with_overrides(hop_seconds=self.hop_seconds)
        thr = lowest_threshold(view, point.smooth, point.refractory_seconds, self.budget)
        if thr is None:
            return 0.0
        return float(read_at(view, point.with_overrides(threshold=thr)).hits.mean())
