"""The publish stage: every side effect that sends results somewhere — GitHub Actions' summary,
outputs and annotations, and the pull-request comment."""
