"""Layer similarity analysis: metrics, streaming accumulation, block detection, plots."""

from .blocks import Block, find_blocks
from .run import AnalysisConfig, AnalysisResult, analyze_model

__all__ = ["AnalysisConfig", "AnalysisResult", "analyze_model", "Block", "find_blocks"]
