"""interest-tracker: streams."""
