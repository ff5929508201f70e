"""interest-tracker: encoders."""
