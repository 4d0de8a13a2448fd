"""The state file's tables, as SQL (``db.py`` creates them and migrates older files)."""

# The earlier versions of jobs (the same id with other parameters): what each sent, how it
# ended, what it cost and its files, never removed. The current version is the jobs row.
VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS versions (
    job_id TEXT NOT NULL,
    v INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT,
    sent TEXT,
    sources TEXT,
    uses TEXT,
    status TEXT NOT NULL,
    first_attempt INTEGER NOT NULL,
    last_attempt INTEGER NOT NULL,
    task_id TEXT,
    remote_status TEXT,
    error_code TEXT,
    error_message TEXT,
    results TEXT,
    usage TEXT,
    cost REAL,
    quoted REAL,
    submitted_at REAL,
    finished_at REAL,
    superseded_at REAL NOT NULL,
    spec INTEGER,
    PRIMARY KEY (job_id, v)
)
"""

# A result file's columns, the same in the outputs of current and of earlier versions.
FILE_COLUMNS = """\
    url TEXT,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    type TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,"""

SCHEMA = (
    VERSIONS_DDL
    + """;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    in_spec INTEGER NOT NULL DEFAULT 1,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    task_id TEXT,
    remote_status TEXT,
    sent TEXT,
    sources TEXT,
    error_code TEXT,
    error_message TEXT,
    results TEXT,
    usage TEXT,
    cost REAL,
    submitted_at REAL,
    finished_at REAL,
    first_attempt INTEGER NOT NULL DEFAULT 1,
    quoted REAL,
    quote_source TEXT,
    uses TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    spec INTEGER,
    vars TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (in_spec, status, idx);
-- Every version of the spec that ran into the directory: its sha256 and, where it lives in a
-- git repository, the commit, whether the working tree had changes, the branch (NULL when
-- HEAD is detached) and the spec's path in the repository.
CREATE TABLE IF NOT EXISTS specs (
    n INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    git_commit TEXT,
    git_dirty INTEGER,
    git_branch TEXT,
    git_path TEXT,
    first_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS version_outputs (
    job_id TEXT NOT NULL,
    v INTEGER NOT NULL,
    n INTEGER NOT NULL,
"""
    + FILE_COLUMNS
    + """
    was TEXT,
    PRIMARY KEY (job_id, v, n)
);
-- The tasks of attempts that ended without success (the current one is jobs.task_id).
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    task_id TEXT,
    started_at REAL NOT NULL,
    outcome TEXT,
    error_code TEXT,
    hook TEXT,
    held REAL,
    PRIMARY KEY (job_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_by_hook ON attempts (hook) WHERE hook IS NOT NULL;
CREATE TABLE IF NOT EXISTS outputs (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
"""
    + FILE_COLUMNS
    + """
    PRIMARY KEY (job_id, n)
);
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at REAL NOT NULL,
    source TEXT NOT NULL
);
"""
)
