"""FastAPI backend on MySQL and Redis."""

__version__ = "0.1.0"
