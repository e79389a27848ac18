"""Readable end-to-end pipelines (fine-tune, evaluate, demo) built from spc's modules."""
