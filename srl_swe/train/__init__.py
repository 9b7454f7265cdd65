"""Training: the tiny offline default model, step datasets, SFT, step-level evaluation (and SRL/RLVR trainers)."""
