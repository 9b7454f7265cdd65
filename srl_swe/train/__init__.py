"""Training: step datasets, SFT, step-level evaluation, SRL and RLVR trainers, pipelines."""
