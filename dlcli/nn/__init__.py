"""Reusable layers: the activation registry, separable convolutions, normalising flows."""
