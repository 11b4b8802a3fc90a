"""Committed sample batches and the generator (`plico synth`) that makes more."""
