"""Training: the one loop (``loop.fit``: seeded, resumable, data-parallel under torchrun) and fine-tuning."""
