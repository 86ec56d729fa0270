"""cdsynth: synthetic pre-training text with contrastive decoding."""

__version__ = "0.1.0"
