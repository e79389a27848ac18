"""Small model configurations for from-scratch training, demos and tests (configs are data)."""

from __future__ import annotations

from ..errors import SpcError

# A small wav2vec2-architecture model: the full 7-layer CNN (stride 320, 49 frames per second)
# with narrow channels, and a 6-layer, 144-wide transformer stack. About 1.4 M parameters.
PRESETS: dict[str, dict] = {
    "wav2vec2-small": dict(
        model_type="wav2vec2",
        hidden_size=144, num_hidden_layers=6, num_attention_heads=4, intermediate_size=384,
        conv_dim=(32, 32, 32, 32, 32, 32, 32), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2), num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4,
        classifier_proj_size=64, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        feat_proj_dropout=0.0, final_dropout=0.0, layerdrop=0.0, mask_time_prob=0.05,
        feat_extract_norm="layer",  # LayerNorm in every conv layer: trains from scratch far better
    ),
    # A small Whisper-encoder model: log-mel front (40 bands), two strided convolutions, a 4-layer,
    # 128-wide transformer stack. About 0.9 M parameters; learns words from scratch far faster than a
    # raw-waveform CNN (the demo's teacher).
    "whisper-small": dict(
        model_type="whisper",
        num_mel_bins=40, d_model=128, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=512,
        decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=128, max_source_positions=1500,
        classifier_proj_size=64, dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
        encoder_layerdrop=0.0, mask_time_prob=0.0,
    ),
    # The Whisper base encoder's shape (80 mel bands, 6 layers, 512 wide) with random weights: for timing compress on a
    # base-size stack (benchmarks/compress_time.py).
    "whisper-base": dict(
        model_type="whisper",
        num_mel_bins=80, d_model=512, encoder_layers=6, encoder_attention_heads=8, encoder_ffn_dim=2048,
        decoder_layers=1, decoder_attention_heads=8, decoder_ffn_dim=512, max_source_positions=1500,
        classifier_proj_size=256, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        encoder_layerdrop=0.0, mask_time_prob=0.0,
    ),
    # Base-size wav2vec2 (12 layers, 768 wide) with random weights: for benchmarks and accounting.
    "wav2vec2-base": dict(model_type="wav2vec2"),
}


def preset_config(name: str):
    """A transformers config for a preset name; a user error listing the presets otherwise."""
    from transformers import AutoConfig

    if name not in PRESETS:
        raise SpcError(f"unknown preset '{name}'; presets: {', '.join(sorted(PRESETS))}")
    kwargs = dict(PRESETS[name])
    return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
