"""Training: data pipeline, losses and one resumable script per model family."""
