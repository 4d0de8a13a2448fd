"""What a media reference in a request must be, when it points at the emulator itself.

A model submit's media fields take URLs and ``asset://<id>`` references; a
workflow's or app's media fields take a ``fileName`` an upload answered, or a URL.
Other URLs are taken on trust (RunningHub fetches them; the emulator does not).
Our own upload URLs must name a live upload (when ``check_media_urls``); an asset
must be this key's, ACTIVE, and of the field's kind; a fileName must be one this
emulator issued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rhbatch.emulator.context import Context

ASSET_SCHEME = "asset://"


def dead_upload(emu: Context, url: str) -> bool:
    """Whether ``url`` is one of our upload URLs that names no live upload."""
    prefix = f"{emu.base_url}/media/input/"
    if not emu.config.check_media_urls or not url.startswith(prefix):
        return False
    upload = emu.uploads.get(url[len(prefix) :].split("?")[0])
    return upload is None or upload.expires < emu.now()


def asset_problem(emu: Context, api_key: str, ref: str, kind: str) -> str | None:
    """Why ``asset://<id>`` cannot be used for a ``kind`` field by this key, or None."""
    asset = emu.assets.get(ref[len(ASSET_SCHEME) :])
    if asset is None or asset.api_key != api_key:
        return f"{ref} is not an asset of this key"
    status = asset.status(emu.now())
    if status != "ACTIVE":
        return f"{ref} is {status}, not ACTIVE"
    if asset.asset_type.lower() != kind:
        return f"{ref} is a{'n' if asset.asset_type[0] in 'AEIOU' else ''} {asset.asset_type} asset"
    return None


def model_media_problem(
    emu: Context, api_key: str, media: dict[str, Any], body: dict[str, Any]
) -> str | None:
    """The first media value of a model submit that points at nothing usable here."""
    for name, rule in media.items():
        value = body.get(name)
        for url in value if isinstance(value, list) else [value]:
            if not isinstance(url, str):
                continue
            if url.startswith(ASSET_SCHEME):
                problem = asset_problem(emu, api_key, url, rule.kind)
                if problem:
                    return f"{name}: {problem}"
            elif dead_upload(emu, url):
                return f"{name}: {url} is not a live upload"
    return None


def node_media_ok(emu: Context, value: str) -> bool:
    """Whether a workflow or app media field may take ``value``."""
    if value in emu.issued:
        return True
    return value.startswith(("http://", "https://")) and not dead_upload(emu, value)
