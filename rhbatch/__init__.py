"""rhbatch: declarative, resumable batch runs of RunningHub generation jobs."""

__version__ = "0.1.0"
