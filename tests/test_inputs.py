"""A job's inputs from the jobs it uses (runner/inputs.py), on a real store and emulator:
when it may start (ready, wait for the used jobs, or blocked with the reason) and what it
is sent (the used jobs' results in its parameters; an old URL, or any file of a
workflow's input, replaced by an upload of the file on disk, once per content)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rhbatch.api.client import Client
from rhbatch.emulator import Emulator
from rhbatch.endpoints.registry import registry
from rhbatch.models import JobRow, OutputRow
from rhbatch.runner.inputs import Inputs
from rhbatch.runner.uploads import Uploader, UploadFailed
from rhbatch.store.state import Store
from tests.helpers import media_bytes

T = TypeVar("T")
MODEL = "seedance-2.0/multimodal-video"
WORKFLOW = "workflow:1987654321098765432"
PICTURE = "https://results.example/a/1.png"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def store(out: Path) -> Iterator[Store]:
    with Store.open(out) as opened:
        yield opened


def jobs(
    store: Store, *rows: tuple[str, dict[str, Any], dict[str, str]], endpoint: str = MODEL
) -> None:
    """(id, params, uses) of each job, into the store as a spec's jobs."""
    store.sync(
        (job_id, i, endpoint, params, None, uses) for i, (job_id, params, uses) in enumerate(rows)
    )


def sent(store: Store, job_id: str) -> int:
    attempt = store.begin_attempt(job_id, {"prompt": "sent"}, {})
    store.record_task(job_id, attempt, f"task-{job_id}", "RUNNING")
    return attempt


def succeeded(store: Store, job_id: str, results: list[dict[str, Any]]) -> None:
    store.record_success(job_id, sent(store, job_id), results, {}, 0.1, done=True)


def saved(store: Store, out: Path, job_id: str, n: int, url: str) -> Path:
    """The job's result ``n`` downloaded into the output directory, as the store has it."""
    rel = f"{job_id}/{n}.png"
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = media_bytes(path.name) + job_id.encode()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    row = OutputRow(n, url, rel, len(data), digest, "image", path.stat().st_mtime_ns)
    store.record_output(job_id, row)
    return path


# The one place these tests read the shape of a verdict: (ready | wait | blocked, the ids
# waited for or the reason). A (word, list) pair, or an object with its readiness (an enum
# whose values are those words), the ids it waits for and the reason it is blocked.
def verdict(inputs: Inputs, row: JobRow) -> tuple[str, list[str]]:
    said: Any = inputs.verdict(row)
    if isinstance(said, tuple):
        kind, detail = said
        return str(getattr(kind, "value", kind)), list(detail)
    reason = [said.reason] if said.reason else []
    return str(said.readiness.value), list(said.waits_for) or reason


def offline(store: Store, out: Path) -> Inputs:
    """Inputs whose uploader has no server: for verdicts, which never upload."""
    client = Client("http://127.0.0.1:9", "rhemu000000000000000000000000000")
    return Inputs(store, Uploader(client, store, registry(), out), out)


def online(
    store: Store, out: Path, work: Callable[[Inputs, Emulator], Awaitable[T]], **kw: Any
) -> T:
    """Run ``work`` with Inputs whose uploads go to an emulator on this loop."""

    async def go() -> T:
        async with Emulator(speed=1000) as emu, Client(emu.base_url, emu.api_key) as client:
            inputs = Inputs(store, Uploader(client, store, registry(), out), out, **kw)
            return await work(inputs, emu)

    return asyncio.run(go())


# --- when a job may start --------------------------------------------------------------


def test_a_job_that_uses_none_is_ready(store: Store, out: Path) -> None:
    jobs(store, ("a", {"prompt": "a boat"}, {}))
    assert verdict(offline(store, out), store.job("a")) == ("ready", [])


@pytest.mark.parametrize("where", ["pending", "submitting", "running", "downloading"])
def test_a_job_waits_while_a_job_it_uses_may_still_succeed(
    store: Store, out: Path, where: str
) -> None:
    jobs(store, ("a", {"prompt": "a boat"}, {}), ("b", {"prompt": "{x.text}"}, {"x": "a"}))
    if where == "submitting":
        store.begin_attempt("a", {"prompt": "a boat"}, {})
    elif where == "running":
        sent(store, "a")
    elif where == "downloading":
        store.record_success("a", sent(store, "a"), [{"url": PICTURE}], {}, 0.1)
    assert str(store.job("a").status) == where
    assert verdict(offline(store, out), store.job("b")) == ("wait", ["a"])


def test_a_job_is_ready_once_every_job_it_uses_succeeded(store: Store, out: Path) -> None:
    jobs(
        store,
        ("a", {"prompt": "one"}, {}),
        ("b", {"prompt": "two"}, {}),
        ("c", {"prompt": "{x.text} {y.text}"}, {"x": "a", "y": "b"}),
    )
    inputs = offline(store, out)
    succeeded(store, "a", [{"text": "one"}])
    assert verdict(inputs, store.job("c")) == ("wait", ["b"])  # only those not done
    succeeded(store, "b", [{"text": "two"}])
    assert verdict(inputs, store.job("c")) == ("ready", [])


@pytest.mark.parametrize(
    ("end", "says"),
    [
        (lambda s: s.fail("a", "1015", "it broke"), "job a (uses.x) is failed: it broke"),
        (lambda s: s.mark_unknown("a", "lost"), "job a (uses.x) is unknown: lost"),
        (lambda s: s.unfetched("a", "gone"), "job a (uses.x) is unfetched: gone"),
        (lambda s: s.block("a", "its own"), "job a (uses.x) is blocked: its own"),
    ],
    ids=["failed", "unknown", "unfetched", "blocked"],
)
def test_a_job_is_blocked_when_a_job_it_uses_cannot_succeed_in_this_run(
    store: Store, out: Path, end: Callable[[Store], None], says: str
) -> None:
    jobs(store, ("a", {"prompt": "a boat"}, {}), ("b", {"prompt": "{x.text}"}, {"x": "a"}))
    end(store)
    assert verdict(offline(store, out), store.job("b")) == ("blocked", [says])


def test_one_job_that_cannot_succeed_blocks_even_with_others_waiting(
    store: Store, out: Path
) -> None:
    jobs(
        store,
        ("a", {"prompt": "one"}, {}),
        ("b", {"prompt": "two"}, {}),
        ("c", {"prompt": "{x.text} {y.text}"}, {"x": "a", "y": "b"}),
    )
    store.fail("b", "1015", "")
    assert verdict(offline(store, out), store.job("c")) == ("blocked", ["job b (uses.y) is failed"])


def test_a_job_that_uses_a_job_not_in_the_store_is_blocked(store: Store, out: Path) -> None:
    jobs(store, ("b", {"prompt": "{x.text}"}, {"x": "nobody"}))
    assert verdict(offline(store, out), store.job("b")) == (
        "blocked",
        ["uses.x: job nobody is not in the store"],
    )


# --- what it is sent -----------------------------------------------------------------------


def test_results_fill_the_placeholders_and_say_where_they_came_from(
    store: Store, out: Path
) -> None:
    """A fresh result URL is sent as it is; the text goes in a longer prompt, whose literal
    braces become single; a whole-list placeholder takes every URL; braces in the text put
    in are not read as placeholders."""
    other = "https://results.example/a/2.png"
    jobs(
        store,
        ("a", {"prompt": "a boat"}, {}),
        (
            "b",
            {
                "prompt": "{{style}}: {x.text}",
                "imageUrls": "{x.urls}",
                "firstImageUrl": "{x.url}",
            },
            {"x": "a"},
        ),
    )
    succeeded(store, "a", [{"url": PICTURE}, {"url": other}, {"text": "a {y.url} boat"}])

    async def work(inputs: Inputs, emu: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
        return await inputs.resolve(store.job("b"))

    params, sources = online(store, out, work)
    assert params == {
        "prompt": "{style}: a {y.url} boat",
        "imageUrls": [PICTURE, other],
        "firstImageUrl": PICTURE,
    }
    assert sources == {
        "prompt": "job a",
        "imageUrls": "job a",  # a list: the job, not one result
        "firstImageUrl": "job a result 1",
    }


def test_an_old_result_url_is_replaced_by_an_upload_of_the_file_once(
    store: Store, out: Path
) -> None:
    """Past ``url_max_age`` the result URL may be dead: the file on disk is uploaded and
    its URL sent; two jobs that take it cause one upload."""
    jobs(
        store,
        ("a", {"prompt": "a boat"}, {}),
        ("b", {"firstImageUrl": "{x.url}"}, {"x": "a"}),
        ("c", {"firstImageUrl": "{x.url}"}, {"x": "a"}),
    )
    succeeded(store, "a", [{"url": PICTURE}])
    saved(store, out, "a", 1, PICTURE)

    async def work(inputs: Inputs, emu: Emulator) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        got = [await inputs.resolve(store.job(j)) for j in ("b", "c")]
        assert emu.stats()["uploads"] == 1
        return got

    # Any age is more than -1 s: the URL counts as expired however soon it is used.
    (b_params, b_sources), (c_params, _) = online(store, out, work, url_max_age=-1.0)
    url = b_params["firstImageUrl"]
    assert url.startswith("http://127.0.0.1:")  # the emulator's, not the old one
    assert c_params == b_params
    assert b_sources == {"firstImageUrl": "job a result 1 (uploaded again from a/1.png)"}


def test_a_fresh_url_is_sent_as_it_is_though_the_file_is_on_disk(store: Store, out: Path) -> None:
    jobs(store, ("a", {"prompt": "a boat"}, {}), ("b", {"firstImageUrl": "{x.url}"}, {"x": "a"}))
    succeeded(store, "a", [{"url": PICTURE}])
    saved(store, out, "a", 1, PICTURE)

    async def work(inputs: Inputs, emu: Emulator) -> dict[str, Any]:
        params, _ = await inputs.resolve(store.job("b"))
        assert emu.stats()["uploads"] == 0
        return params

    assert online(store, out, work) == {"firstImageUrl": PICTURE}


def test_a_workflow_input_always_takes_an_uploaded_file_name(store: Store, out: Path) -> None:
    """A workflow's loader takes the legacy upload's file name, never a URL, however fresh."""
    jobs(store, ("a", {"prompt": "a boat"}, {}))
    jobs(store, ("b", {"12.image": "{x.url}"}, {"x": "a"}), endpoint=WORKFLOW)
    succeeded(store, "a", [{"url": PICTURE}])
    path = saved(store, out, "a", 1, PICTURE)

    async def work(inputs: Inputs, emu: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
        return await inputs.resolve(store.job("b"))

    params, sources = online(store, out, work)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert params == {"12.image": f"api/{digest}.png"}
    assert sources == {"12.image": "job a result 1 (uploaded again from a/1.png)"}


def test_a_used_job_without_the_result_named_fails_the_input(store: Store, out: Path) -> None:
    jobs(
        store,
        ("a", {"prompt": "a boat"}, {}),
        ("b", {"firstImageUrl": "{x.url}", "prompt": "{x.text}"}, {"x": "a"}),
    )
    succeeded(store, "a", [{"text": "words only"}])

    async def work(inputs: Inputs, emu: Emulator) -> None:
        await inputs.resolve(store.job("b"))

    with pytest.raises(UploadFailed, match="job a made no file for firstImageUrl") as caught:
        online(store, out, work)
    assert caught.value.code == "INPUT"
