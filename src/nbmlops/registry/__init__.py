"""The model registry: versions, aliases with history, safe model files, signatures, cards."""
