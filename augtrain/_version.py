"""The package version, in a module of its own: anything may import it without importing
`augtrain` itself (whose __init__ pulls in training)."""

__version__ = "0.1.0"
