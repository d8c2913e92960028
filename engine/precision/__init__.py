"""Reduced precision as ordered passes: fp16, mixed precision and int8, judged by one accuracy rule."""
