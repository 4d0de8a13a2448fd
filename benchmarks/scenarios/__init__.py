"""One module per scenario; each has ``TITLE`` and ``run(quick, work) -> Outcome``."""
