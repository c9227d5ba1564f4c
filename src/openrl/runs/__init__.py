"""Run directories, metadata, logging (JSONL + W&B), Orbax checkpoints, progress and plots."""
