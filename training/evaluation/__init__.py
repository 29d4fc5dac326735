"""Evaluation: estimators side by side on recordings with ground truth, and where the errors are."""
