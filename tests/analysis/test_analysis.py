"""Similarity metrics against independent computations, streaming accumulation, block detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.analysis.accumulate import SimilarityAccumulator
from spc.analysis.blocks import find_blocks
from spc.analysis.metrics import cka, cosine_flat, cosine_frames, hsic_unbiased, mutual_knn
from spc.analysis.run import AnalysisConfig, analyze_model
from spc.data.clips import ClipSet
from spc.models import build_model


def _np_cka(x, y):
    """Linear CKA straight from the definition with centred features (Kornblith et al. 2019, eq. 3)."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_cka_matches_numpy_definition():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 20)), rng.standard_normal((50, 30))
    y[:, :20] += x
    assert cka(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(_np_cka(x, y), rel=1e-9)


def test_cka_identity_scaling_and_rotation_invariance():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((64, 16)))
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    for unbiased in (False, True):
        assert cka(x, x, unbiased) == pytest.approx(1.0, abs=1e-9)
        assert cka(x, 3.7 * x, unbiased) == pytest.approx(1.0, abs=1e-9)
        assert cka(x, x @ torch.from_numpy(q), unbiased) == pytest.approx(1.0, abs=1e-9)
        y = torch.from_numpy(rng.standard_normal((64, 16)))
        assert cka(x, y, unbiased) < 0.5


def test_unbiased_hsic_matches_the_formula_by_loops():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((9, 3)), rng.standard_normal((9, 4))
    k, l = x @ x.T, y @ y.T
    n = 9
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    term1 = sum(kt[i, j] * lt[j, i] for i in range(n) for j in range(n))
    term2 = kt.sum() * lt.sum() / ((n - 1) * (n - 2))
    term3 = 2 / (n - 2) * sum(kt[i, j] * lt[j, m] for i in range(n) for j in range(n) for m in range(n))
    ref = (term1 + term2 - term3) / (n * (n - 3))
    assert float(hsic_unbiased(torch.from_numpy(k), torch.from_numpy(l))) == pytest.approx(ref, rel=1e-9)


def test_minibatch_cka_approaches_full_batch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2048, 8))
    y = x @ rng.standard_normal((8, 8)) + 1.5 * rng.standard_normal((2048, 8))
    full = _np_cka(x, y)
    acc = SimilarityAccumulator(2, k=5)
    # feed as 'hidden states' B x T x D with T = 1 so that the flattened features are x and y
    for s in range(0, 2048, 256):
        acc.update([torch.from_numpy(x[s:s + 256, None, :]).float(), torch.from_numpy(y[s:s + 256, None, :]).float()])
    est = float(acc.result()["cka"][0, 1])
    assert est == pytest.approx(full, abs=0.02)
    assert float(acc.result()["cka"][0, 0]) == pytest.approx(1.0, abs=1e-9)


def test_mutual_knn_identity_and_chance():
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.standard_normal((200, 32)))
    assert mutual_knn(x, x, k=10) == 1.0
    assert mutual_knn(x, 5 * x, k=10) == 1.0
    chance = 10 / 199
    y = torch.from_numpy(rng.standard_normal((200, 32)))
    assert mutual_knn(x, y, k=10) == pytest.approx(chance, abs=0.03)


def test_mutual_knn_against_brute_force():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((30, 6)), rng.standard_normal((30, 6))
    y[:, :3] = x[:, :3]

    def nn_sets(f):
        f = f / np.linalg.norm(f, axis=1, keepdims=True)
        d = f @ f.T
        return [set(np.argsort(-np.where(np.arange(30) == i, -np.inf, d[i]))[:4]) for i in range(30)]

    a, b = nn_sets(x), nn_sets(y)
    ref = np.mean([len(a[i] & b[i]) / 4 for i in range(30)])
    assert mutual_knn(torch.from_numpy(x), torch.from_numpy(y), k=4) == pytest.approx(ref)


def test_cosines_and_bi_against_numpy():
    rng = np.random.default_rng(6)
    hs = [rng.standard_normal((5, 7, 4)).astype(np.float32) for _ in range(3)]
    hs[1] = hs[0] + 0.1 * hs[1]
    flat = [[np.mean([np.dot(a[c].ravel(), b[c].ravel()) / np.linalg.norm(a[c]) / np.linalg.norm(b[c])
                      for c in range(5)]) for b in hs] for a in hs]
    frames = [[np.mean([np.mean([np.dot(a[c, t], b[c, t]) / np.linalg.norm(a[c, t]) / np.linalg.norm(b[c, t])
                                 for t in range(7)]) for c in range(5)]) for b in hs] for a in hs]
    t = [torch.from_numpy(h) for h in hs]
    assert float(cosine_flat(t[0], t[1]).mean()) == pytest.approx(flat[0][1], abs=1e-6)
    assert float(cosine_frames(t[0], t[2]).mean()) == pytest.approx(frames[0][2], abs=1e-6)
    acc = SimilarityAccumulator(3, k=2)
    acc.update([x[:3] for x in t])
    acc.update([x[3:] for x in t])
    res = acc.result()
    np.testing.assert_allclose(res["cosine"].numpy(), flat, atol=1e-5)
    np.testing.assert_allclose(res["cosine_frames"].numpy(), frames, atol=1e-5)


def test_planted_blocks_are_recovered():
    rng = np.random.default_rng(7)
    planted = [(0, 3), (4, 9), (10, 12)]
    s = np.full((13, 13), 0.3)
    for a, b in planted:
        s[a:b + 1, a:b + 1] = 0.9
    s = s + rng.normal(0, 0.03, s.shape)
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    blocks, tau = find_blocks(s)
    assert [(b.start, b.end) for b in blocks] == planted
    assert all(b.mean_similarity == pytest.approx(0.9, abs=0.03) for b in blocks)
    assert find_blocks(s) == (blocks, tau)  # deterministic
    assert [(b.start, b.end) for b in find_blocks(np.eye(4), tau=0.5)[0]] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert [(b.start, b.end) for b in find_blocks(np.ones((4, 4)), tau=0.5)[0]] == [(0, 3)]


def test_analyze_model_end_to_end(tmp_path):
    model = build_model(tiny_configs()["wavlm"], ["a", "b"], seed=0)
    rng = np.random.default_rng(8)
    clips = ClipSet((0.1 * rng.standard_normal((40, 16000))).astype(np.float32), np.arange(40) % 2, ["a", "b"],
                    [str(i) for i in range(40)])
    result = analyze_model(model, clips, AnalysisConfig(batch_size=16, k=3), show_progress=False, model_name="tiny")
    assert result.n_clips == 40 and result.n_layers == 4
    for name in ("cosine", "cosine_frames", "cka", "cka_batch_biased", "mutual_knn"):
        m = np.asarray(result.matrices[name])
        assert m.shape == (5, 5)
        np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-5)
        np.testing.assert_allclose(m, m.T, atol=1e-9)
    # BI from an independent computation on all hidden states at once
    with torch.no_grad():
        hs = model.hidden_states(torch.from_numpy(clips.audio))
    bi = [1 - float(cosine_frames(hs[i], hs[i + 1]).mean()) for i in range(4)]
    np.testing.assert_allclose(result.bi["frames"], bi, atol=1e-5)
    assert result.lowest_bi(1) == [int(np.argmin(bi))]
    result.to_json(tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())["n_layers"] == 4


def test_similarities_accumulate_in_float64_on_the_real_whisper_encoder():
    """The self-cosine of every hidden state is 1 within 1e-9 (float32 sums read 0.9987 on Whisper tiny.en)."""
    import numpy as np

    from spc.analysis.accumulate import SimilarityAccumulator
    from spc.models import load_model

    from conftest import require_whisper

    whisper = require_whisper()
    model = load_model(whisper, labels=["a", "b"], clip_seconds=1.0).eval()
    audio = (0.1 * np.random.default_rng(0).standard_normal((6, 16000))).astype(np.float32)
    acc = SimilarityAccumulator(model.num_layers + 1, k=2)
    with torch.inference_mode():
        acc.update(model.hidden_states(torch.from_numpy(audio)))
    mats = acc.result()
    for name in ("cosine", "cosine_frames", "cka"):
        np.testing.assert_allclose(np.diagonal(mats[name].numpy()), 1.0, atol=1e-9, err_msg=name)
    assert mats["cosine"].dtype == torch.float64
