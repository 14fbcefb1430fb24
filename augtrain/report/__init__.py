"""Metrics and plots computed from a trained model."""
