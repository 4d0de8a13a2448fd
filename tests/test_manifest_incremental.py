"""The run's periodic manifest rewrite renders only the jobs that changed, and still writes
the bytes a full write does: after random transitions on a real store, after every way the
bookkeeping of changes can be wrong (the file deleted or edited, everything marked, a spec
version added, a transaction given up), and across the blocks the old file is read in."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rhbatch.store.manifest as manifest
from rhbatch.errors import StateError
from rhbatch.models import OutputRow, RemoteStatus
from rhbatch.store.changes import MAX_MARKED, Written
from rhbatch.store.history import SpecVersion
from rhbatch.store.manifest import write_manifest
from rhbatch.store.state import Store

ENDPOINT = "seedance-2.0/multimodal-video"
# Ids whose JSON needs escapes, or that look like the start of another line's fields.
ODD_IDS = ['say "hi"', "back\\slash", "ünïcødé 🎞", 'x", "index": 3, "y', "tab\there"]
JOBS = 300


def job_ids(count: int = JOBS) -> list[str]:
    return ODD_IDS + [f"job-{n:04d}" for n in range(count - len(ODD_IDS))]


def rows(ids: list[str]) -> list[tuple[object, ...]]:
    """Jobs as ``sync`` takes them: with a quote, the jobs they use, and their variables."""
    return [
        (
            job_id,
            i,
            ENDPOINT,
            {"prompt": f"a paper boat ({job_id})", "seed": i},
            0.25 if i % 3 else None,
            {"first": ids[0]} if i % 7 == 1 else None,
            {"row": i, "city": "Zürich"} if i % 2 else None,
        )
        for i, job_id in enumerate(ids)
    ]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def store(out: Path) -> Iterator[Store]:
    with Store.open(out) as opened:
        version = opened.spec_version(SpecVersion(0, "ab" * 32, "spec.yaml", "c0ffee", False))
        # Twenty jobs dropped from the spec: changes to them show nowhere.
        opened.sync(rows(job_ids(JOBS + 20)), spec=version)
        opened.sync(rows(job_ids()), spec=version)
        yield opened


def full_bytes(out: Path, tmp_path: Path) -> bytes:
    """What a full write of the same store writes, by another connection to it (whose
    own bookkeeping of changes starts empty, so its write is a full one)."""
    elsewhere = tmp_path / "full"
    elsewhere.mkdir(exist_ok=True)
    with Store.open(out, lock=False) as other:
        write_manifest(other, elsewhere)
    return (elsewhere / "manifest.jsonl").read_bytes()


def written(store: Store) -> Written:
    assert store.changed.written is not None
    return store.changed.written


class Moves:
    """Random real transitions on random jobs, each remembering the job it touched."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        self.store, self.rng = store, rng
        self.attempt: dict[str, int] = {}
        self.tasks = 0
        self.touched: set[str] = set()

    def task(self) -> str:
        self.tasks += 1
        return f"T{self.tasks}"

    def begin(self, job_id: str) -> None:
        sent = {"prompt": "sent", "n": self.tasks}
        self.attempt[job_id] = self.store.begin_attempt(
            job_id, sent, {"image": "a.png"}, hook=f"h{self.tasks}"
        )

    def one(self, job_id: str) -> None:
        s, rng, n = self.store, self.rng, self.attempt.get(job_id, 1)
        note = rng.choice(["it broke", "délai dépassé", 'a "quoted" reason', "line\nbreak"])
        moves: list[Callable[[], object]] = [
            lambda: self.begin(job_id),
            lambda: s.record_task(job_id, n, self.task(), RemoteStatus.RUNNING),
            lambda: s.record_remote(job_id, RemoteStatus.QUEUED),
            lambda: s.not_submitted(job_id, n, "1011", note),
            lambda: s.record_success(
                job_id,
                n,
                [{"url": f"https://x/{job_id}.png", "outputType": "png", "nodeId": "9"}],
                {"seconds": rng.randint(1, 9)},
                rng.choice([0.1, 0.25, 1.0]),
                done=rng.random() < 0.5,
            ),
            lambda: s.record_output(
                job_id,
                OutputRow(
                    rng.randint(1, 2), f"https://x/{job_id}", f"o/{job_id}.png", 3, "0f", "png", 1
                ),
            ),
            lambda: s.retime_output(job_id, 1, rng.randint(2, 99)),
            lambda: s.finish(job_id),
            lambda: s.end_attempt(job_id, n, "FAILED", "1015", note, retry=True),
            lambda: s.end_attempt(job_id, n, "CANCEL", "1016", note, retry=False),
            lambda: s.fail(job_id, "UPLOAD", note),
            lambda: s.mark_unknown(job_id, note),
            lambda: s.unfetched(job_id, note),
            lambda: s.block(job_id, note),
            lambda: s.note(job_id, "WAIT", note),
            lambda: s.reopen(job_id),
            lambda: s.settle(job_id, n, self.task(), RemoteStatus.FAILED),
            lambda: s.attach(job_id, self.task(), "RUNNING"),
        ]
        rng.choice(moves)()
        self.touched.add(job_id)


@pytest.mark.parametrize("block", [manifest.BLOCK, 4096, 7])
def test_random_transitions_give_the_bytes_of_a_full_write(
    store: Store, out: Path, tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of random transitions, an incremental write after each: the file is always
    byte for byte a full write's, and each write rendered only the jobs touched (of the
    spec). Small blocks make lines straddle the reads of the old file."""
    monkeypatch.setattr(manifest, "BLOCK", block)
    in_spec = set(job_ids())
    every = job_ids(JOBS + 20)
    assert write_manifest(store, out) == JOBS  # the first write: full
    assert written(store).rendered == JOBS
    moves = Moves(store, random.Random(block))
    for round_ in range(25):
        moves.touched = set()
        for _ in range(moves.rng.choice([0, 1, 3, 12, 40])):
            job_id = moves.rng.choice(every if moves.rng.random() < 0.1 else ODD_IDS + every[:40])
            moves.one(job_id)
        assert write_manifest(store, out, changed_only=True) == JOBS
        assert written(store).rendered == len(moves.touched & in_spec), round_
        assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path), round_


def test_a_write_with_nothing_changed_renders_nothing(store: Store, out: Path) -> None:
    write_manifest(store, out)
    before = (out / "manifest.jsonl").read_bytes()
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == 0
    assert (out / "manifest.jsonl").read_bytes() == before


def test_the_first_and_last_lines_are_replaced_in_place(
    store: Store, out: Path, tmp_path: Path
) -> None:
    """The first job's line has no newline before it, the last one's is the file's end."""
    write_manifest(store, out)
    ids = job_ids()
    store.fail(ids[0], "X", "first")
    store.fail(ids[-1], "X", "last")
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == 2
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)


def changed_one(store: Store, out: Path) -> None:
    """A first (full) write, then one job changed: the next write could be incremental."""
    write_manifest(store, out)
    store.fail("job-0100", "X", "changed")


def test_a_deleted_file_is_written_in_full(store: Store, out: Path, tmp_path: Path) -> None:
    changed_one(store, out)
    (out / "manifest.jsonl").unlink()
    assert write_manifest(store, out, changed_only=True) == JOBS
    assert written(store).rendered == JOBS
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)


def test_a_file_edited_to_other_lines_is_written_in_full(
    store: Store, out: Path, tmp_path: Path
) -> None:
    """An edit in place that keeps the size, inode and time (restored) but splits a line:
    the line count gives it away."""
    changed_one(store, out)
    path = out / "manifest.jsonl"
    info = path.stat()
    with path.open("r+b") as fh:
        data = fh.read()
        fh.seek(data.index(b", ", len(data) // 2))
        fh.write(b"\n")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size
    assert data.count(b"\n") + 1 == path.read_bytes().count(b"\n")
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert path.read_bytes() == full_bytes(out, tmp_path)


def test_a_changed_job_whose_line_is_not_found_gives_a_full_write(
    store: Store, out: Path, tmp_path: Path
) -> None:
    """The changed job's id edited away in place (size, inode and time as they were)."""
    changed_one(store, out)
    path = out / "manifest.jsonl"
    info = path.stat()
    data = path.read_bytes()
    with path.open("r+b") as fh:
        fh.seek(data.index(b'"job-0100"') + 1)
        fh.write(b"J")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert path.read_bytes() == full_bytes(out, tmp_path)


def test_a_file_changed_in_size_is_written_in_full(store: Store, out: Path, tmp_path: Path) -> None:
    changed_one(store, out)
    path = out / "manifest.jsonl"
    path.write_bytes(path.read_bytes()[:-200])
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert path.read_bytes() == full_bytes(out, tmp_path)


@pytest.mark.parametrize(
    "everything",
    [
        lambda s: s.changed.everything(),
        lambda s: s.recover(resubmit_unknown=True, retry_failed=True),
        lambda s: s.requote([("job-0001", 9.5, "preview")]),
        lambda s: s.sync(rows(job_ids())),
        lambda s: (s.journaled(), s.restore([], fresh=False)),
    ],
    ids=["marked", "recover", "requote", "sync", "restore"],
)
def test_what_changes_many_jobs_gives_a_full_write(
    store: Store, out: Path, tmp_path: Path, everything: Callable[[Store], object]
) -> None:
    changed_one(store, out)
    everything(store)
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)


def test_a_new_spec_version_gives_a_full_write(store: Store, out: Path, tmp_path: Path) -> None:
    """Every line names the spec versions as they are recorded: a new one is a full write,
    whatever the marks say."""
    changed_one(store, out)
    version = store.spec_version(SpecVersion(0, "cd" * 32, "spec.yaml", None, None))
    store.sync(rows(job_ids()[::-1]), spec=version)
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)
    # The marks alone do not decide it: a spec version recorded by another connection
    # (which marks nothing here) is seen in the records of the spec versions.
    store.fail("job-0001", "X", "changed")
    with Store.open(out, lock=False) as other:
        other.spec_version(SpecVersion(0, "ef" * 32, "spec.yaml", None, None))
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)


def test_a_file_another_process_wrote_is_written_in_full(
    store: Store, out: Path, tmp_path: Path
) -> None:
    """A store that has not written the manifest itself knows nothing of the file."""
    write_manifest(store, out)
    with Store.open(out, lock=False) as other:
        other.fail("job-0002", "X", "changed")
        write_manifest(other, out, changed_only=True)
        assert written(other).rendered == JOBS
    assert (out / "manifest.jsonl").read_bytes() == full_bytes(out, tmp_path)


def test_after_a_failed_write_the_next_is_full(store: Store, out: Path, tmp_path: Path) -> None:
    """The marks a failed write took are not on disk: the next write renders everything."""
    changed_one(store, out)
    path = out / "manifest.jsonl"
    path.unlink()
    path.mkdir()  # a directory where the file goes: the write fails
    with pytest.raises(StateError, match="cannot write the manifest"):
        write_manifest(store, out, changed_only=True)
    assert store.changed.written is None
    path.rmdir()
    store.fail("job-0003", "X", "changed")
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    assert path.read_bytes() == full_bytes(out, tmp_path)


def test_a_transaction_given_up_is_rendered_again(store: Store, out: Path, tmp_path: Path) -> None:
    """During a run writes share one open transaction, and the manifest shows them before
    their commit. If the commit fails, the transaction is given up (``_abandon``): those
    writes are undone, and the next write shows the jobs as they are again."""
    write_manifest(store, out)
    store.grouped(lambda: None)
    store.fail("job-0004", "X", "never committed")
    write_manifest(store, out, changed_only=True)
    assert b"never committed" in (out / "manifest.jsonl").read_bytes()
    store._abandon()  # what a commit that fails does
    store.grouped(None)
    write_manifest(store, out, changed_only=True)
    assert written(store).rendered == JOBS
    data = (out / "manifest.jsonl").read_bytes()
    assert b"never committed" not in data
    assert data == full_bytes(out, tmp_path)


def test_records_of_some_jobs_come_in_spec_order_across_chunks(tmp_path: Path) -> None:
    """``records(ids)``: the jobs of the spec among ``ids`` (others left out), in spec
    order however many (their positions read in chunks of 500, then their rows)."""
    ids = [f"j{n:05d}" for n in range(1300)]
    with Store.open(tmp_path / "big") as store:
        store.sync([(job_id, i, ENDPOINT, {"n": i}) for i, job_id in enumerate(ids)][::-1])
        store.sync([(job_id, i, ENDPOINT, {"n": i}) for i, job_id in enumerate(ids[:1200])])
        wanted = set(ids[::2]) | {"j01299", "nope"}  # j01299: no longer in the spec
        some = [r["id"] for r in store.records(sorted(wanted, reverse=True))]
        everything = list(store.records())
        assert some == [r["id"] for r in everything if r["id"] in wanted]
        assert len(some) == 600
        assert list(store.records(ids[700:702])) == everything[700:702]
        assert list(store.records([])) == []


def test_more_marks_than_kept_become_everything(store: Store, out: Path) -> None:
    write_manifest(store, out)
    store.fail("job-0005", "X", "changed")
    assert store.changed.take() == {"job-0005"}
    for n in range(MAX_MARKED + 1):
        store.changed.job(f"id-{n}")
    assert store.changed.take() is None
