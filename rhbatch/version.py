"""rhbatch's version: one leaf module that every module naming it imports (the package
root gives it as ``rhbatch.__version__`` on first use, importing nothing)."""

__version__ = "0.1.0"
