"""Frame sequences: frame ranges and patterns, and processing a sequence with one prepared model."""
