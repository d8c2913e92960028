"""Pixels and files: image IO, colour transforms, channels and alpha, render passes (no onnxruntime here)."""
