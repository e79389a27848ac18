"""Family adapters on tiny random configs: spc's piecewise forward equals transformers' own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from conftest import tiny_configs
from spc.errors import SpcError
from spc.families import get_adapter, supported_model_types
from spc.models import build_model, load_model, save_model
from spc.params import count_parameters

LABELS = ["a", "b", "c"]


def test_every_registered_family_has_a_tiny_config():
    tested = {key.split("/")[0] for key in tiny_configs()}
    assert set(supported_model_types()) <= tested


def test_unknown_family_lists_the_supported_ones():
    with pytest.raises(SpcError, match="unsupported model type 'bert'.*wav2vec2.*whisper"):
        get_adapter("bert")


def _hf_forward(model, audio):
    inputs = model.front.preprocessor(audio)
    return model.hf(**{model.adapter.input_name: inputs}, output_hidden_states=True)


def test_forward_and_hidden_states_match_transformers(family_config):
    name, config = family_config
    model = build_model(config, LABELS, seed=1)
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        ours = model(audio)
        hidden = model.hidden_states(audio)
        ref = _hf_forward(model, audio)
    assert ours.shape == (2, 3)
    torch.testing.assert_close(ours, ref.logits, rtol=1e-5, atol=1e-5)
    n_layers = config.num_hidden_layers
    assert len(hidden) == n_layers + 1 == len(ref.hidden_states)
    frames = 50 if name.startswith("whisper") else 49  # 1 s: 100 mel frames / 2, or CNN stride 320
    for h in hidden:
        assert h.shape == (2, frames, config.hidden_size)
    # every index but the last is the same tensor transformers returns; the last differs only where
    # transformers applies the final LayerNorm to it (Whisper)
    for i, (a, b) in enumerate(zip(hidden[:-1], ref.hidden_states[:-1])):
        torch.testing.assert_close(a, b, msg=f"hidden state {i}")
    layer_out = {}
    hooks = [layer.register_forward_hook(lambda m, i, o, k=k: layer_out.__setitem__(k, o[0] if isinstance(o, tuple) else o))
             for k, layer in enumerate(model.layers)]
    with torch.no_grad():
        model(audio)
    for h in hooks:
        h.remove()
    for k in range(n_layers):  # index k+1 is where layer k really ends (forward hook)
        torch.testing.assert_close(hidden[k + 1], layer_out[k])


def test_parameter_split_adds_up(family_config):
    _, config = family_config
    model = build_model(config, LABELS)
    c = count_parameters(model)
    assert c.feature_encoder + c.stack + c.head + c.other == c.total
    assert c.total == sum(p.numel() for p in model.hf.parameters())
    assert c.stack_layers == sum(p.numel() for p in model.layers.parameters())
    assert 0 <= c.other <= config.hidden_size  # at most the SpecAugment mask vector
    head = sum(p.numel() for p in model.hf.projector.parameters()) + sum(p.numel() for p in model.hf.classifier.parameters())
    assert c.head == head + (config.num_hidden_layers + 1 if config.use_weighted_layer_sum else 0)


def test_base_size_parameter_split_matches_reference():
    """wav2vec2-base with random weights: the split given in docs/method.md."""
    model = load_model("preset:wav2vec2-base", labels=[str(i) for i in range(12)])
    c = count_parameters(model)
    cnn = sum(p.numel() for p in model.hf.wav2vec2.feature_extractor.parameters())
    assert round(cnn / 1e6, 2) == 4.20
    assert round((c.feature_encoder - cnn) / 1e6, 2) == 0.40
    assert round(c.stack_layers / 1e6, 2) == 85.05
    assert round((c.stack - c.stack_layers) / 1e6, 2) == 4.72
    assert round(c.head / 1e6, 2) == 0.20
    assert round(c.total / 1e6, 2) == 94.57


def test_save_and_load_round_trip(family_config, tmp_path):
    name, config = family_config
    model = build_model(config, LABELS, seed=2)
    save_model(model, tmp_path / "m", provenance={"test": name})
    again = load_model(tmp_path / "m")
    assert again.labels == LABELS
    assert again.meta.provenance == {"test": name}
    audio = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(model(audio), again(audio))
    # and it is a normal transformers checkpoint
    hf = getattr(transformers, model.adapter.hf_class).from_pretrained(tmp_path / "m")
    assert hf.config.num_labels == 3


def test_new_labels_replace_the_head(tmp_path):
    model = build_model(tiny_configs()["wav2vec2"], LABELS)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m", labels=["x", "y"])
    assert again.labels == ["x", "y"]
    torch.testing.assert_close(again.hf.projector.weight, model.hf.projector.weight)
    assert again(torch.zeros(1, 16000)).shape == (1, 2)


def test_whisper_positions_trimmed_for_short_clips():
    model = build_model(tiny_configs()["whisper"], LABELS, clip_seconds=1.0)
    assert model.hf.encoder.embed_positions.num_embeddings == 50
    assert model.hf.config.max_source_positions == 50


def test_whisper_log_mel_matches_feature_extractor():
    fe = transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=1)
    model = build_model(tiny_configs()["whisper"], LABELS)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, 16000))).astype(np.float32)
    ref = fe(list(audio), sampling_rate=16000, return_tensors="np").input_features
    ours = model.front.preprocessor(torch.from_numpy(audio)).numpy()
    assert ours.shape == ref.shape == (2, 80, 100)
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_bad_sources_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(SpcError, match="no config.json"):
        load_model(tmp_path)
    with pytest.raises(SpcError, match="unknown preset"):
        load_model("preset:nope")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(SpcError, match="cannot reach the Hugging Face hub.*local folder"):
        load_model("facebook/wav2vec2-base")


def test_unsupported_checkpoint_is_refused(tmp_path):
    transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    with pytest.raises(SpcError, match="unsupported model type 'bert'"):
        load_model(tmp_path)
