"""Public RunningHub clients against the emulator: runninghub-sdk 1.1.9 and runninghub-cli 0.1.0.

Each call a client makes that the API documents is driven against the emulator on a
background thread over loopback, with the client's base URL pointed at it. Where a
client gets the API wrong, the emulator stays right and the test asserts the client's
symptom (marked BUG), so that a client release that fixes it is noticed here.
runninghub-cli is installed apart from the environment (see pyproject.toml) and its
tests skip when it cannot be.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rhbatch.emulator import EmulatorConfig
from rhbatch.emulator.config import DEFAULT_KEY
from rhbatch.emulator.thread import EmulatorThread
from tests.emu_helpers import MULTIMODAL, doc_body
from tests.test_emulator_families import APP_I2V, EVERY_FIELD, NEVER_RUN, T2I

sdk = pytest.importorskip("runninghub_sdk")
from runninghub_sdk import RunningHubClient  # noqa: E402
from runninghub_sdk.exceptions import NetworkError, RunningHubError  # noqa: E402
from runninghub_sdk.typedefs.task import NodeInput, TaskStatus  # noqa: E402

CLI = "runninghub-cli==0.1.0"
POLL = 0.01  # seconds between a client's polls in these tests


def config(seconds: float = 1.0, **kw: Any) -> EmulatorConfig:
    kinds = ("video", "image", "audio", "3d", "string")
    data: dict[str, Any] = {
        "speed": 100.0,
        "durations": {k: {"kind": "fixed", "value": seconds} for k in kinds},
    }
    data.update(kw)
    return EmulatorConfig.from_dict(data)


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(config()) as thread:
        yield thread


@pytest.fixture
def client(emu: EmulatorThread) -> Iterator[RunningHubClient]:
    with RunningHubClient(emu.api_key, base_url=emu.base_url, timeout=10) as c:
        yield c


class Receiver:
    """A webhook receiver on loopback (stdlib, on its own thread): the bodies it got."""

    def __init__(self) -> None:
        seen: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                seen.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(check: Callable[[], bool]) -> None:
    """Wait a few ms at a time (at most 2 s) for something the emulator does in the background."""
    for _ in range(400):
        if check():
            return
        time.sleep(0.005)
    raise AssertionError("it did not happen")


# --- runninghub-sdk ------------------------------------------------------------------


def test_sdk_workflow_run_status_outputs_and_download(
    client: RunningHubClient, tmp_path: Path
) -> None:
    """run (create) with NodeInputs, get_status, wait_for_completion (status then
    outputs), download_outputs: two PNGs of node 9, on disk."""
    made = client.run(T2I, [NodeInput("5", "batch_size", 2), NodeInput("6", "text", "a fox")])
    assert made.task_status == TaskStatus.RUNNING
    assert json.loads(made.prompt_tips)["node_errors"] == {}
    outputs = client.wait_for_completion(made.task_id, poll_interval=POLL, timeout=5)
    assert client.get_status(made.task_id) == TaskStatus.SUCCESS
    assert [(o.node_id, o.file_type, o.consume_money) for o in outputs] == [
        ("9", "png", "0.002")
    ] * 2
    paths = client.download_outputs(outputs, tmp_path)
    assert [p.read_bytes()[:4] for p in paths] == [b"\x89PNG"] * 2


def test_sdk_ai_app(client: RunningHubClient) -> None:
    """get_ai_app_api_demo lists the app's nodes; run_ai_app with them (one edited) runs,
    query_v2 and get_outputs report the PNG of node 30."""
    demo = client.get_ai_app_api_demo(EVERY_FIELD)
    assert demo.webapp_name == "every field type"
    assert [n.field_type for n in demo.node_info_list] == [
        "STRING", "INT", "FLOAT", "SWITCH", "LIST", "IMAGE", "VIDEO", "AUDIO", "BOOLEAN",
    ]  # fmt: skip
    options = json.loads(demo.node_info_list[4].field_data)  # served as the app gives it
    assert [o.get("index") for o in options] == ["1:1", "16:9", "9:16", None]
    items = [
        {"nodeId": n.node_id, "fieldName": n.field_name, "fieldValue": n.field_value}
        for n in demo.node_info_list
    ]
    items[1]["fieldValue"] = 8
    made = client.run_ai_app(int(EVERY_FIELD), items, instance_type="plus")
    result = client.wait_for_query_v2_completion(made.task_id, poll_interval=POLL, timeout=5)
    assert [(r["nodeId"], r["outputType"]) for r in result.results or []] == [("30", "png")]
    assert result.usage is not None
    assert result.usage.consume_money == "0.004"
    assert [o.node_id for o in client.get_outputs(made.task_id)] == ["30"]


def test_sdk_refusals_raise_with_the_documented_codes(client: RunningHubClient) -> None:
    """The legacy codes reach the SDK's error: 810, 380, 803, 901; a failed validation is a
    FAILED task whose outputs raise 805."""
    cases: list[tuple[Callable[[], Any], int]] = [
        (lambda: client.get_workflow_json(NEVER_RUN), 810),
        (lambda: client.run("42", []), 380),
        (lambda: client.run(T2I, [NodeInput("99", "x", 1)]), 803),
        (lambda: client.run_ai_app("42"), 901),
    ]
    for call, code in cases:
        with pytest.raises(RunningHubError) as caught:
            call()
        assert caught.value.code == code
    made = client.run(T2I, [NodeInput("3", "steps", "many")])
    assert made.task_status == TaskStatus.FAILED
    with pytest.raises(RunningHubError) as caught:
        client.get_outputs(made.task_id)
    assert caught.value.code == 805


def test_sdk_workflow_json(client: RunningHubClient) -> None:
    """get_workflow_json_parsed answers the API-format graph."""
    graph = client.get_workflow_json_parsed(T2I)
    assert graph["9"]["class_type"] == "SaveImage"
    assert graph["5"]["inputs"]["batch_size"] == 1


def test_sdk_model_api(client: RunningHubClient) -> None:
    """run_model_api, wait_for_query_v2_completion and preview_model_price on the model API."""
    made = client.run_model_api(MULTIMODAL, doc_body())
    assert made.status == TaskStatus.RUNNING
    done = client.wait_for_query_v2_completion(made.task_id, poll_interval=POLL, timeout=5)
    assert done.status == TaskStatus.SUCCESS
    assert done.usage is not None
    assert done.usage.third_party_consume_money == "6"
    assert done.task_usage_list[0].task_status == "SUCCESS"
    preview = client.preview_model_price(MULTIMODAL, doc_body())
    assert (preview.estimated_price, preview.currency) == (6.0, "CNY")


def test_sdk_upload_and_lora(client: RunningHubClient, capsys: pytest.CaptureFixture[str]) -> None:
    """upload_file answers the v2 upload's data; upload_lora PUTs the bytes to the URL it
    gets; list_public_models (resource/list) then shows the LoRA. BUG: the upload prints
    its raw response to stdout."""
    uploaded = client.upload_file(b"\x89PNG bytes", "cat.png")
    assert uploaded.file_name.startswith("api/")
    assert uploaded.download_url.startswith(client.base_url)
    assert "上传API原始响应" in capsys.readouterr().out  # BUG: prints the response
    lora = b"lora weights" * 64
    name = client.upload_lora("cats", lora)
    md5 = hashlib.md5(lora, usedforsecurity=False).hexdigest()
    assert name == f"api-lora-cn/{md5}.safetensors"
    page = client.list_public_models(resource_type="LORA")
    assert [(r.resource_name, r.node_model_name) for r in page.records] == [("cats", name)]
    assert client.list_public_models().total == 0  # its default type, UNET: nothing uploaded


def test_sdk_async_upload_is_refused(client: RunningHubClient) -> None:
    """BUG: async_upload_file sends the multipart body under the client's JSON content
    type, so the emulator refuses it (1007); and the SDK reads `msg` where the v2 upload
    answers `message`, so its error says only "unknown error"."""

    async def go() -> RunningHubError:
        with pytest.raises(RunningHubError) as caught:
            await client.async_upload_file(b"\x89PNG bytes")
        await client.aclose()
        return caught.value

    error = asyncio.run(go())
    assert (error.code, error.message) == (1007, "未知错误")


def test_sdk_account_calls(client: RunningHubClient, emu: EmulatorThread) -> None:
    """get_account_status, get_queue_status, list_api_keys (masked) and validate_api_key.
    BUG: validate_api_key counts only 401 and 806 as a bad key; the emulator answers 802
    (APIKEY_UNAUTHORIZED), and the SDK raises instead of answering False."""
    account = client.get_account_status()
    assert (account.remain_money, account.currency, account.api_type) == (
        "10000.00",
        "CNY",
        "SHARED",
    )
    queue = client.get_queue_status()
    assert (queue.api_key_type, queue.concurrent_limit) == ("SHARED", 50)
    (key,) = client.list_api_keys()
    assert key.is_enabled
    assert key.key != emu.api_key
    assert key.key.startswith(emu.api_key[:4])
    assert client.validate_api_key()
    with (
        RunningHubClient("0" * 32, base_url=emu.base_url) as stranger,
        pytest.raises(RunningHubError) as caught,
    ):
        stranger.validate_api_key()
    assert caught.value.code == 802


def test_sdk_webhook_detail_and_retry(client: RunningHubClient, emu: EmulatorThread) -> None:
    """A run with a webhook that cannot be delivered: get_webhook_detail says FAILED;
    retry_webhook to a receiver that answers delivers it (SUCCESS)."""
    with Receiver() as good:
        made = client.run(T2I, webhook_url=f"{emu.base_url}/no-such-receiver")
        wait_until(lambda: emu.call(lambda e: e.hooks.get(made.task_id) is not None
                                    and e.hooks[made.task_id].status == "FAILED"))  # fmt: skip
        detail = client.get_webhook_detail(made.task_id)
        assert (detail.callback_status, detail.retry_count) == ("FAILED", 3)
        assert detail.user_api_key != emu.api_key
        client.retry_webhook(detail.id, good.url)
        wait_until(lambda: client.get_webhook_detail(made.task_id).is_callback_success)
    assert good.seen[0]["taskId"] == made.task_id
    assert json.loads(good.seen[0]["eventData"])["code"] == 0


def test_sdk_status_enum_lacks_cancel_and_create() -> None:
    """BUG: TaskStatus has no CANCEL nor CREATE. A create answered with taskStatus CREATE
    raises, and the task id of a task that was made (and will be paid for) is lost;
    query_v2 raises on a task in its CREATE phase and on a cancelled one. (The legacy
    status, which keeps to the documented four, is read fine.)"""
    with (
        EmulatorThread(config(seconds=10_000, create_seconds=1000)) as emu,
        RunningHubClient(emu.api_key, base_url=emu.base_url) as client,
    ):
        with pytest.raises(ValueError, match="'CREATE' is not a valid TaskStatus"):
            client.run(T2I)
        (task_id,) = emu.call(lambda e: list(e.board.tasks))
        with pytest.raises(ValueError, match="'CREATE' is not a valid TaskStatus"):
            client.query_v2(task_id)
        assert client.get_status(task_id) == TaskStatus.QUEUED
        client.cancel(task_id)
        with pytest.raises(ValueError, match="'CANCEL' is not a valid TaskStatus"):
            client.query_v2(task_id)
        assert client.get_status(task_id) == TaskStatus.FAILED


def test_sdk_undocumented_calls_are_404(client: RunningHubClient) -> None:
    """Calls the API does not document (the web app list) are no API here: HTTP 404."""
    with pytest.raises(NetworkError, match="404"):
        client.list_webapps()


# --- runninghub-cli ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def rh(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """runninghub-cli's `rh` package, installed into a folder of its own with pip."""
    target = tmp_path_factory.mktemp("runninghub-cli")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run(
        [*command, "--target", str(target), CLI], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.skip(f"{CLI} could not be installed: {proc.stderr[-500:]}")
    sys.path.insert(0, str(target))
    try:
        import click.testing
        import rh
        import rh.cli
        import rh.client
    finally:
        sys.path.remove(str(target))
    assert click.testing  # loaded while its folder was on the path
    return rh


@pytest.fixture
def rh_at(rh: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point runninghub-cli's hard-coded URLs at an emulator, and make its polls fast."""

    def point(base_url: str) -> None:
        for name, value in vars(rh.client).items():
            if isinstance(value, str) and value.startswith("https://www.runninghub.cn"):
                monkeypatch.setattr(
                    rh.client, name, value.replace("https://www.runninghub.cn", base_url)
                )
        monkeypatch.setattr(rh.client, "POLL_INTERVAL", POLL)
        monkeypatch.setattr(rh.client, "MAX_POLL_SECONDS", 2)

    return point


def rh_run(rh: ModuleType, key: str, *args: str) -> tuple[int, Any]:
    """`rh ARGS` in-process: its exit code and the JSON it printed."""
    from click.testing import CliRunner

    result = CliRunner().invoke(rh.cli.cli, list(args), env={"RH_API_KEY": key})
    return result.exit_code, json.loads(result.stdout)


def test_cli_account_and_app_info(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread
) -> None:
    """`rh account status` and `rh app info` read the documented answers."""
    rh_at(emu.base_url)
    code, account = rh_run(rh, emu.api_key, "account", "status")
    assert (code, account["remainMoney"], account["apiType"]) == (0, "10000.00", "SHARED")
    code, info = rh_run(rh, emu.api_key, "app", "info", APP_I2V)
    assert code == 0
    assert [(n["nodeId"], n["fieldName"], n["fieldType"]) for n in info["nodes"]] == [
        ("1", "image", "IMAGE"),
        ("2", "prompt", "STRING"),
        ("3", "duration", "LIST"),
    ]


def test_cli_app_run_with_a_file(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread, tmp_path: Path
) -> None:
    """`rh app run` uploads a file (legacy upload), runs the app with values sent as
    strings (which fit), polls the legacy outputs and saves the MP4 of node 40."""
    rh_at(emu.base_url)
    image = tmp_path / "start.png"
    image.write_bytes(b"\x89PNG start frame")
    out = tmp_path / "out.mp4"
    code, result = rh_run(
        rh, emu.api_key, "app", "run", APP_I2V,
        "--node", "3:duration=10", "--file", f"1:image={image}", "--output", str(out),
    )  # fmt: skip
    assert (code, result["status"]) == (0, "SUCCESS")
    assert result["outputs"][0]["fileType"] == "mp4"
    assert out.read_bytes()[4:8] == b"ftyp"


def test_cli_model_run_with_an_image(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread, tmp_path: Path
) -> None:
    """`rh model run` uploads a local image (v2 upload), submits and polls the v2 query.
    BUG: it reads `fileType` from v2 results, which have `outputType`: it gets ""."""
    rh_at(emu.base_url)
    image = tmp_path / "ref.jpg"
    image.write_bytes(b"\xff\xd8\xff jpeg")
    code, result = rh_run(
        rh, emu.api_key, "model", "run", "seedance-v1-lite/reference-to-video",
        "--prompt", "a dog", "--image", str(image),
    )  # fmt: skip
    assert (code, result["status"]) == (0, "SUCCESS")
    assert result["outputs"][0]["fileUrl"].startswith(emu.base_url)
    assert result["outputs"][0]["fileType"] == ""  # BUG: the field is outputType


def test_cli_sends_params_as_strings(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread
) -> None:
    """BUG: `--param generateAudio=false` is sent as the string "false"; the emulator checks
    the body against the endpoint's schema and refuses it (1007)."""
    rh_at(emu.base_url)
    code, result = rh_run(
        rh,
        emu.api_key,
        "model",
        "run",
        MULTIMODAL,
        "--prompt",
        "x",
        "--param",
        "generateAudio=false",
    )
    assert code == 1
    assert result["error"] == "http_error"
    assert "(code=1007)" in result["message"]
    assert "generateAudio" in result["message"]


def test_cli_checks_model_tasks_through_legacy_outputs(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread
) -> None:
    """BUG: `rh task status` asks /task/openapi/outputs, which does not serve Standard Model
    API tasks (807): a model task that succeeded is reported FAILED."""
    rh_at(emu.base_url)
    _, made = rh_run(
        rh, emu.api_key, "model", "run", "rhart-image-v1/text-to-image", "--prompt", "a fox"
    )
    assert made["status"] == "SUCCESS"
    code, status = rh_run(rh, emu.api_key, "task", "status", made["taskId"])
    assert (code, status["status"], status["message"]) == (0, "FAILED", "APIKEY_TASK_NOT_FOUND")


def test_cli_treats_a_queued_app_task_as_failed(
    rh: ModuleType, rh_at: Callable[[str], None]
) -> None:
    """BUG: a queued task's outputs answer 813 (APIKEY_TASK_IS_QUEUED), which the CLI takes
    for a failure: with the account's one slot busy, `rh app run` fails at once."""
    cfg = config(seconds=10_000, accounts={DEFAULT_KEY: {"concurrency": 1}})
    with EmulatorThread(cfg) as emu:
        rh_at(emu.base_url)
        with RunningHubClient(emu.api_key, base_url=emu.base_url) as client:
            client.run(T2I)  # takes the slot
        code, result = rh_run(rh, emu.api_key, "app", "run", EVERY_FIELD, "--node", "2:value=8")
    assert (code, result["error"]) == (1, "task_failed")
    assert result["message"] == "Task failed: APIKEY_TASK_IS_QUEUED (code=813)"


def test_cli_does_not_stop_polling_a_cancelled_task(
    rh: ModuleType, rh_at: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """BUG: the CLI's model poll stops only on SUCCESS, FAILED or ERROR; a task cancelled
    meanwhile (CANCEL) is polled until its timeout."""
    with EmulatorThread(config(seconds=10_000)) as emu:
        rh_at(emu.base_url)
        with RunningHubClient(emu.api_key, base_url=emu.base_url) as client:
            made = client.run_model_api(MULTIMODAL, doc_body())
            client.cancel(made.task_id)
        monkeypatch.setattr(rh.client, "MAX_POLL_SECONDS", 0.2)
        with pytest.raises(rh.client.RunningHubError) as caught:
            rh.client._poll_standard_model(emu.api_key, made.task_id)
    assert caught.value.error_key == "timeout"


def test_cli_app_list_is_not_the_documented_call(
    rh: ModuleType, rh_at: Callable[[str], None], emu: EmulatorThread
) -> None:
    """BUG: `rh app list` calls /api/webapp/list, which the API does not document (the
    documented list is /openapi/v2/aiapp/list): here it is 404."""
    rh_at(emu.base_url)
    code, result = rh_run(rh, emu.api_key, "app", "list")
    assert (code, result["error"], result["message"]) == (
        1,
        "http_error",
        "HTTP 404: 404: Not Found",
    )
