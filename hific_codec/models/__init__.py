"""Neural networks of the codec, one concept per module."""
