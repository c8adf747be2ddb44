"""regrun: run, reproduce and extend AD methods for image registration and inverse problems."""

__version__ = "0.1.0"
