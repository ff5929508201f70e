"""interest-tracker: state."""
