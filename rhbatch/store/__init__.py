"""What a run keeps on disk: the SQLite file (``db``, the only sqlite3 user) with the jobs'
state on it (``state``, ``transitions``), files written whole or not at all (``files``), and
the manifest and run summary (``manifest``)."""
