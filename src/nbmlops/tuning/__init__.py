"""Tuning: hyperparameter searches in which every candidate is a recorded run."""
