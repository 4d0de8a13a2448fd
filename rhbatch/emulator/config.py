"""The emulator's settings: accounts, timing, faults, and the documented-or-guessed choices.

Where RunningHub's behaviour is documented the emulator follows it; where it is
not (in RunningHub's API documentation) the choice is a setting here, with the default
named in a comment, so that rhbatch can be tested against every plausible
variant. ``EmulatorConfig.load(profile, file, **overrides)`` builds a config
from a named profile (``clean``, ``flaky``, ``chaos``), a JSON or YAML file of
the same shape, and keyword overrides, in that order.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_KEY = "rhemu0000000000000000000000000000"[:32]  # 32 characters, like a real key


@dataclass
class Account:
    """One API key and the account behind it."""

    tier: str = "SHARED"  # NORMAL | SHARED | EXCLUSIVE; the model API takes SHARED only (1014)
    balance: float = 10_000.0  # CNY
    concurrency: int = 50  # tasks RUNNING at once; more wait QUEUED
    queue_limit: int = 1000  # RUNNING + QUEUED beyond which submits are refused


@dataclass
class Duration:
    """How long tasks take (seconds of real RunningHub time, before ``speed``)."""

    kind: str = "uniform"  # uniform | fixed | lognormal
    low: float = 30.0
    high: float = 120.0
    value: float = 60.0  # fixed
    median: float = 60.0  # lognormal
    sigma: float = 0.5  # lognormal


@dataclass
class Fault:
    """One kind of fault: how often, where, and its details."""

    rate: float = 0.0
    routes: tuple[str, ...] = ()  # empty: the fault's usual routes
    codes: tuple[str, ...] = ()  # task_failed: codes to pick from
    seconds: float = 0.0  # slow: delay; http_429: Retry-After (both scaled by speed)
    times: int = 2  # download_404: how many 404s before the file is served
    stage: str = "before"  # http_5xx on submit: "before" (no task) or "after" (task created)


FAULT_KINDS = (
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "reset",
    "slow",
    "task_failed",
    "stuck",
    "download_404",
    "truncated",
    "lost_submit",
)
# Routes: submit, query, upload, download, other (price preview, queue, account, cancel).
USUAL_ROUTES = {
    "http_500": ("query", "upload", "download", "other"),
    "http_502": ("query", "upload", "download", "other"),
    "http_503": ("submit", "query", "upload", "download", "other"),
    "http_429": ("submit", "query", "upload", "other"),
    "reset": ("query", "download"),
    "slow": ("query",),
    "task_failed": ("submit",),
    "stuck": ("submit",),
    "download_404": ("download",),
    "truncated": ("download",),
    "lost_submit": ("submit",),
}

# Error codes and texts (RunningHub's *API Error Code Reference*). Which one a situation uses on
# the v2 model API is not documented; these are the defaults.
TEXTS = {
    "1001": "Invalid URL",
    "1002": "Invalid API Key",
    "1003": "Rate limit exceeded, please slow down requests",
    "1004": "Task not found",
    "1005": "Internal server error, please retry later",
    "1006": "Task execution timed out, please retry",
    "1007": "Invalid parameters",
    "1008": "File size limit exceeded",
    "1010": "Service unavailable, please retry later",
    "1011": "System is currently busy, please retry later",
    "1013": "File processing failed, please check the URL or retry",
    "1014": "Access Denied: Standard Model API is restricted to Enterprise-Shared API Keys only",
    "1015": "Generation failed, please try again",
    "1501": "Content verification failed",
    "1504": "Model timed out, please retry later",
    "1505": "Photorealistic real people are prohibited, please modify your prompt or image",
    "416": "TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET",
    "421": "TASK_QUEUE_MAXED",
    "807": "APIKEY_TASK_NOT_FOUND",
    "812": "CORPAPIKEY_INSUFFICIENT_FUNDS",
    "415": "TASK_INSTANCE_MAXED",
    "814": "PERSONAL_QUEUE_COUNT_LIMIT",
    # The legacy workflow / AI-app family answers ``msg`` with these identifiers.
    "301": "PARAMS_INVALID",
    "380": "WORKFLOW_NOT_EXISTS",
    "433": "VALIDATE_PROMPT_FAILED",
    "802": "APIKEY_UNAUTHORIZED",
    "803": "APIKEY_INVALID_NODE_INFO",
    "804": "APIKEY_TASK_IS_RUNNING",
    "805": "APIKEY_TASK_STATUS_ERROR",
    "809": "APIKEY_FILE_SIZE_EXCEEDED",
    "810": "WORKFLOW_NOT_SAVED_OR_NOT_RUNNING",
    "813": "APIKEY_TASK_IS_QUEUED",
    "901": "WEBAPP_NOT_EXISTS",
}
# HTTP statuses used when rejections are not sent as HTTP 200 (reject_style "http").
HTTP_FOR_CODE = {
    "1001": 404,
    "380": 404,
    "901": 404,
    "803": 400,
    "810": 400,
    "301": 400,
    "1002": 401,
    "1014": 403,
    "1007": 400,
    "1008": 413,
    "1004": 404,
    "1003": 429,
    "421": 429,
    "415": 429,
    "814": 429,
    "1011": 503,
    "416": 402,
    "812": 402,
    "1005": 500,
}


@dataclass
class EmulatorConfig:
    seed: int = 0
    speed: float = 1.0  # 100: a 60 s task takes 0.6 s; also scales Retry-After, delays and TTLs
    accounts: dict[str, Account] = field(default_factory=lambda: {DEFAULT_KEY: Account()})
    # Task durations by output type ("video", "image", ...), overridden per endpoint
    # by fnmatch patterns in ``durations_by_endpoint``.
    durations: dict[str, Duration] = field(
        default_factory=lambda: {
            "video": Duration(low=30, high=180),
            "image": Duration(low=5, high=30),
            "audio": Duration(low=10, high=60),
            "3d": Duration(low=60, high=300),
            "string": Duration(low=2, high=10),
        }
    )
    durations_by_endpoint: dict[str, Duration] = field(default_factory=dict)
    # Bytes of each result file by output type (0: the natural small size).
    output_bytes: dict[str, int] = field(default_factory=dict)
    # Result downloads are served at most this fast, in MB/s of wall time (0: unpaced),
    # as a CDN would: a download then takes a moment a test can catch.
    download_mbps: float = 0.0
    faults: dict[str, Fault] = field(default_factory=dict)
    # --- Choices where RunningHub's API documentation is silent ---
    reject_style: str = "http200"  # "http200": HTTP 200 + errorCode; "http": a 4xx/5xx status
    queue_full_code: str = "421"  # how a full queue is refused (421, 1011, 814, ...)
    funds_code: str = "416"  # insufficient balance (416 or 812)
    not_found_style: str = "v2"  # "v2": task object with errorCode 1004; "envelope": {code, msg}
    submit_status: str = "RUNNING"  # the status a submit returns when a slot is free
    instant_reply: bool = True  # a task that takes no time: its submit answers SUCCESS + results
    create_seconds: float = (
        0.0  # a new task reports CREATE for this long (scaled) before QUEUED/RUNNING
    )
    webhook_event_data: str = "string"  # "string" (JSON text, as documented) or "object"
    webhook_retries: int = 3
    text_result_url: bool = True  # string endpoints: also serve the text as a .txt URL
    result_ttl: float = 86_400.0  # seconds a result URL works (scaled by speed)
    upload_ttl: float = 86_400.0  # seconds an upload's download_url works (scaled)
    upload_max_mb: float = 100.0  # 1008 beyond this
    check_media_urls: bool = True  # our own upload URLs in a submit must exist (else 1013)
    # Billing that disagrees with the public price list, per endpoint (fnmatch patterns):
    # a task is charged its list price times the first matching factor (default 1); the
    # price preview answers the list price times its own factor.
    billing_factor: dict[str, float] = field(default_factory=dict)
    preview_factor: dict[str, float] = field(default_factory=dict)
    # --- Workflows and AI apps (docs/emulator.md, "Every family") ---
    # Workflows and apps by id, the shape of samples/*.json; each id here replaces the
    # sample of that id, new ids are added.
    workflows: dict[str, Any] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    # A workflow or app task is billed on its run time (a guess: the price is not
    # public): CNY per second by ``instanceType``; an instanceType not listed is refused.
    run_prices: dict[str, float] = field(default_factory=lambda: {"default": 0.002, "plus": 0.004})
    legacy_upload_max_mb: float = 30.0  # /task/openapi/upload: 809 beyond this (documented)
    lora_url_ttl: float = 3600.0  # seconds a LoRA upload URL takes a PUT (scaled)
    lora_max_mb: float = 2048.0  # a LoRA PUT larger than this is refused (413)
    asset_ready_seconds: float = 5.0  # an asset is PROCESSING this long, then ACTIVE (scaled)
    webhook_timeout: float = 10.0  # real seconds a webhook receiver has to answer

    def __post_init__(self) -> None:
        if not 0 < float(self.speed) < math.inf:  # NaN fails too
            raise ValueError(f"speed must be a number above 0, not {self.speed}")

    def factor(self, table: dict[str, float], endpoint: str) -> float:
        """The first factor of ``table`` whose pattern matches ``endpoint`` (else 1)."""
        return next((f for p, f in table.items() if fnmatch.fnmatch(endpoint, p)), 1.0)

    def scaled(self, seconds: float) -> float:
        """Real RunningHub seconds to emulator seconds."""
        return seconds / self.speed

    @classmethod
    def load(
        cls, profile: str = "clean", file: str | Path | None = None, **overrides: Any
    ) -> EmulatorConfig:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
        data: dict[str, Any] = json.loads(json.dumps(PROFILES[profile]))
        if file is not None:
            _merge(data, _read(Path(file)))
        _merge(data, {k: v for k, v in overrides.items() if v is not None})
        try:
            config = cls.from_dict(data)
            config.check_apps()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{file}: {exc}" if file is not None else str(exc)) from None
        return config

    def check_apps(self) -> None:
        """ValueError naming the key of an app entry apiCallDemo could not serve."""
        from rhbatch.emulator.app_inputs import check_app

        if not isinstance(self.apps, dict):
            raise ValueError("apps: a mapping of app ids to apps")
        for aid, raw in self.apps.items():
            check_app(f"apps[{aid}]", raw)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown emulator setting(s): {', '.join(sorted(unknown))}")
        kwargs = dict(data)
        if "accounts" in kwargs:
            kwargs["accounts"] = {k: Account(**v) for k, v in kwargs["accounts"].items()}
        for name in ("durations", "durations_by_endpoint"):
            if name in kwargs:
                kwargs[name] = {k: Duration(**v) for k, v in kwargs[name].items()}
        if "faults" in kwargs:
            faults = {}
            for kind, spec in kwargs["faults"].items():
                if kind not in FAULT_KINDS:
                    raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(FAULT_KINDS)}")
                spec = dict(spec)
                for key in ("routes", "codes"):
                    if key in spec:
                        spec[key] = tuple(str(x) for x in spec[key])
                faults[kind] = Fault(**spec)
            kwargs["faults"] = faults
        if "durations" in kwargs:
            kwargs["durations"] = {**cls().durations, **kwargs["durations"]}
        if "run_prices" in kwargs:
            kwargs["run_prices"] = {**cls().run_prices, **kwargs["run_prices"]}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fault(self, kind: str) -> Fault | None:
        found = self.faults.get(kind)
        return found if found is not None and found.rate > 0 else None


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only for YAML config files

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an emulator config is a mapping of settings")
    return data


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


# Named profiles. "clean" has no faults. "flaky" has the transient trouble a long
# batch meets on a good day: nothing in it loses a submit or needs a person.
# "chaos" adds what does: lost submit responses, stuck tasks, permanent failures.
PROFILES: dict[str, dict[str, Any]] = {
    "clean": {},
    "flaky": {
        "create_seconds": 1.0,
        "faults": {
            "http_503": {"rate": 0.03},
            "http_502": {"rate": 0.02},
            "http_429": {"rate": 0.03, "seconds": 2},
            "reset": {"rate": 0.02},
            "slow": {"rate": 0.01, "seconds": 40},
            "task_failed": {"rate": 0.03, "codes": ["1015", "1006", "1504"]},
            "download_404": {"rate": 0.05, "times": 2},
            "truncated": {"rate": 0.03},
        },
    },
    "chaos": {
        "faults": {
            "http_500": {"rate": 0.05},
            "http_502": {"rate": 0.05, "stage": "after", "routes": ["submit", "query", "download"]},
            "http_503": {"rate": 0.05},
            "http_429": {"rate": 0.05, "seconds": 5},
            "reset": {"rate": 0.05},
            "slow": {"rate": 0.03, "seconds": 120},
            "task_failed": {"rate": 0.08, "codes": ["1015", "1006", "1504", "1505", "1501"]},
            "stuck": {"rate": 0.02},
            "download_404": {"rate": 0.1, "times": 3},
            "truncated": {"rate": 0.05},
            "lost_submit": {"rate": 0.03},
        }
    },
}
