"""`plico synth`: realistic scanned MOD.209 batches with exact ground truth."""
