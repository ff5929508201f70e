"""Offline evaluation: hold-out split, ranking metrics, baselines, the runner."""
