"""What a run keeps on disk: its state (``state``, SQLite, the only sqlite3 user), files written
whole or not at all (``files``), and the manifest and run summary (``manifest``)."""
