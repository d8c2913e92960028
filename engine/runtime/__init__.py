"""Providers, sessions, the optimized-model cache and prepare_model: from a model file to a ready session."""
