"""Portrait: user profiles and precision marketing for e-commerce."""

__version__ = "0.1.0"
