"""Supervised A2J training on person crops with exact ground truth: the crop cache, augmentation,
the trainer and score calibration."""
