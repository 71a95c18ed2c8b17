"""Maps between function spaces: forward operators and learned operators."""
