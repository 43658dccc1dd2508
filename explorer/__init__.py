"""Latent Explorer: see and hear the latent spaces of symbolic-music VAEs."""

__version__ = "0.1.0"
