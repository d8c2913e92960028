"""FP16 and mixed precision as ordered passes: graph repairs, casts, fp16 range checks, accuracy, validation feeds."""
