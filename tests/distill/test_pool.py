"""Issue 35's ingredients: a window pool made as the streams are, drawn afresh each epoch, hard negatives first,
negatives weighted, a keyword-versus-rest term, and a checkpoint chosen by its keyword recall at a budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.data.clips import ClipSet
from spc.distill import DistillConfig, MimicConfig, build_student, distill
from spc.distill.pool import EpochSampler, pool_windows, room
from spc.distill.selection import DetectorSelection
from spc.distill.trainer import keyword_mask, label_loss
from spc.models import build_model
from spc.streaming.mixing import NOISE_DB
from spc.training.loop import TrainConfig

RATE = 16000
LABELS = ["high", "low", "_unknown_"]


def _clips(n: int, seed: int) -> ClipSet:
    """Tones 0.4 s long at three pitches inside 1 s of silence (keyword: high; others: low, _unknown_)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.4 * RATE)) / RATE
    audio = np.zeros((n, RATE), np.float32)
    for i in range(n):
        f = (2500, 300, 900)[i % 3] * rng.uniform(0.95, 1.05)
        audio[i, 4800 : 4800 + len(t)] = 0.3 * np.sin(2 * np.pi * f * t)
    return ClipSet(audio, np.arange(n) % 3, LABELS, [f"{LABELS[i % 3]}/{i}.wav" for i in range(n)])


def test_pool_windows_are_seeded_and_sit_at_the_streams_levels():
    train = _clips(30, 0)
    names = [LABELS[t] for t in train.targets]
    a, kinds = pool_windows(train.audio, names, ["high"], 200, RATE, seed=3)
    b, _ = pool_windows(train.audio, names, ["high"], 200, RATE, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (200, RATE) and set(kinds) <= {"word", "other", "negative", "noise"}
    assert 0.35 < kinds.count("word") / 200 < 0.65 and np.abs(a).max() <= 1.0
    noise_only = a[[k == "noise" for k in kinds]]
    level = 20 * np.log10(np.sqrt((noise_only.astype(np.float64) ** 2).mean(axis=1)))
    assert (level > NOISE_DB - 10 - 6 - 1).all() and (level < NOISE_DB + 10 + 6 + 1).all()  # +-10 dB scene, +-6 gain
    words = a[[k == "word" for k in kinds]].astype(np.float64)
    assert np.median(20 * np.log10(np.abs(words).max(axis=1))) > NOISE_DB + 5  # a tone stands above the noise


def test_a_room_decays_by_sixty_db_over_its_rt60():
    h = room(0.5, RATE, np.random.default_rng(0))
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    assert h[0] == h.max() and np.isclose(np.sum(h**2), 1.0)
    tail = energy[int(0.45 * RATE)] / energy[1]
    assert tail < 10 ** (-4.0)  # 54 dB down by 0.45 s (noise-shaped: allowing some slack)


def test_each_epoch_draws_its_own_windows_hard_negatives_first():
    s = EpochSampler(n_clips=10, pool=40, per_epoch=10, seed=1, hard_share=0.3)
    assert s.n_train == 20
    e0, e1 = s.windows(0), s.windows(1)
    assert len(set(e0)) == 10 and set(e0) != set(e1) and (s.windows(0) == e0).all()  # fresh, and seeded per epoch
    s.set_hard(2, np.array([39, 38, 37, 36, 35]))
    assert s.windows(2)[:3].tolist() == [39, 38, 37] and len(set(s.windows(2))) == 10  # 30% of 10 from the mined
    idx = torch.arange(20)
    mapped = s.map(idx, 2)
    assert mapped[:10].tolist() == list(range(10)) and mapped[10:].tolist() == (10 + s.windows(2)).tolist()


def test_negatives_weigh_more_as_the_ramp_rises_and_the_keyword_term_adds_its_bce():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    teacher = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # a keyword window, a keyword-free one
    y = torch.tensor([-1, -1])
    mask = keyword_mask(LABELS, ["high"])
    cfg = DistillConfig(negative_weight=5.0, keyword_weight=0.0)
    per = torch.nn.functional.kl_div(torch.log_softmax(logits / 2, -1), torch.softmax(teacher / 2, -1),
                                     reduction="none").sum(-1) * 4
    assert float(label_loss(logits, y, teacher, cfg, mask, progress=0.0)) == pytest.approx(float(per.mean()))
    assert float(label_loss(logits, y, teacher, cfg, mask, progress=1.0)) == pytest.approx(
        float((per[0] + 5 * per[1]) / 6))
    kw = DistillConfig(keyword_weight=2.0)
    p_s = torch.softmax(logits, -1)[:, 0]
    p_t = torch.softmax(teacher, -1)[:, 0]
    bce = -(p_t * torch.log(p_s) + (1 - p_t) * torch.log(1 - p_s))
    assert float(label_loss(logits, y, teacher, kw, mask)) == pytest.approx(float((per + 2 * bce).mean()), rel=1e-5)
    assert keyword_mask(["a", "b"], None) is None  # no keyword-free class: nothing to weigh


def test_the_selection_scores_recall_at_a_budget_its_streams_resolve():
    val = _clips(30, 1)
    sel = DetectorSelection(val.audio, [LABELS[t] for t in val.targets], val.paths, LABELS, ["high"], RATE)
    assert sel.audio.shape[1] == RATE and sum(sel.counts) == len(sel.audio)
    starts = np.concatenate([np.arange(c) * sel.hop_seconds for c in sel.counts])
    rec = np.concatenate([[i] * c for i, c in enumerate(sel.counts)])
    perfect = np.zeros((len(sel.audio), 3))
    perfect[:, 2] = 1.0
    for c in sel.streams.clips:
        if c.keyword:  # the windows that end inside (start, end + 1 s) of a keyword say 'high'
            ends = starts + 1.0
            on = (rec == c.recording) & (ends > c.start_s) & (ends < c.end_s + 1.0)
            perfect[on] = [1.0, 0.0, 0.0]
    assert sel.recall(perfect) == 1.0
    deaf = np.tile([0.0, 0.0, 1.0], (len(sel.audio), 1))
    assert sel.recall(deaf) == 0.0


def test_a_student_trains_with_every_ingredient_and_is_chosen_as_a_detector(tmp_path):
    teacher = build_model(tiny_configs()["wav2vec2"], LABELS, seed=0)
    quick = TrainConfig(epochs=2, batch_size=16, lr=1e-3, weight_decay=0.0)
    cfg = DistillConfig(stage1=quick, stage2=quick, stream_windows=1.0, window_snr=True, pool_factor=3.0,
                        negative_weight=5.0, keyword_weight=1.0, hard_negatives=0.25, select="detector")
    student = build_student(teacher, MimicConfig("linear", 1, hidden=8))
    result = distill(student, teacher, _clips(24, 2), _clips(12, 3), cfg, tmp_path / "w", show_progress=False,
                     keywords=["high"])
    rows = result.stage2.history
    assert len(rows) == 2 and all("val_detector" in r for r in rows)
    assert result.stage2.best["val_detector"] == max(r["val_detector"] for r in rows)
    with pytest.raises(Exception, match="checkpoint selection"):
        DistillConfig(select="luck")


def test_the_tiny_student_trains_with_every_ingredient_too(tmp_path):
    teacher = build_model(tiny_configs()["whisper"], LABELS, seed=0)
    quick = TrainConfig(epochs=2, batch_size=16, lr=1e-3, weight_decay=0.0)
    cfg = DistillConfig(stage1=quick, stage2=quick, stream_windows=1.0, window_snr=True, pool_factor=2.0,
                        negative_weight=3.0, keyword_weight=1.0, hard_negatives=0.5, select="detector")
    student = build_student(teacher, MimicConfig(kind="tiny", n_layers=1, width=32, n_fft=200))
    result = distill(student, teacher, _clips(18, 4), _clips(12, 5), cfg, tmp_path / "w", show_progress=False)
    assert all("val_detector" in r for r in result.stage2.history)
