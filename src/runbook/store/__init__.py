"""Store stage: where runs are kept and read back."""
