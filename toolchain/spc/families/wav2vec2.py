"""wav2vec2, HuBERT and data2vec-audio: the same layout under different attribute names."""

from __future__ import annotations

from .base import FamilyAdapter
from .registry import register


@register
class Wav2Vec2Adapter(FamilyAdapter):
    model_types = ("wav2vec2",)
    base_attr = "wav2vec2"
    hf_class = "Wav2Vec2ForSequenceClassification"


@register
class HubertAdapter(FamilyAdapter):
    model_types = ("hubert",)
    base_attr = "hubert"
    hf_class = "HubertForSequenceClassification"


@register
class Data2VecAudioAdapter(FamilyAdapter):
    model_types = ("data2vec-audio",)
    base_attr = "data2vec_audio"
    hf_class = "Data2VecAudioForSequenceClassification"

    def stable_layer_norm(self, model) -> bool:
        # data2vec-audio has no stable-layer-norm variant: LayerNorm always sits before the stack
        return False
