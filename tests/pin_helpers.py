"""Pins for tests: the emulator's sample text-to-image workflow and every-type app, as
``rhbatch pin`` writes them, so that validation tests run without any server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rhbatch.endpoints.pins import pin_path, pin_text

WORKFLOW = "1990000000000000001"  # text-to-image: KSampler 3, prompts 6 and 7, save 9
VIDEO_WORKFLOW = "1990000000000000002"  # image-to-video: LoadImage 10, outputs 20 and 21
APP = "1990000000000000101"  # every field type

GRAPH: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 42,
            "steps": 20,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sdxl_base_1.0.safetensors"},
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 1024, "height": 1024, "batch_size": 1},
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a photo of a cat", "clip": ["4", 1]},
        "_meta": {"title": "Positive"},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "blurry", "clip": ["4", 1]},
        "_meta": {"title": "Negative"},
    },
    "8": {
        "class_type": "VAEDecode",
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "class_type": "SaveImage",
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "_meta": {"title": "Save Image"},
    },
}


def _field(node: str, name: str, field: str, kind: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "nodeId": node,
        "nodeName": name,
        "fieldName": field,
        "fieldType": kind,
        "fieldValue": value,
        "description": field,
        **extra,
    }


# An ImpactSwitch's options as apiCallDemo gives them (JSON text; the index is what is sent).
SWITCH_OPTIONS = json.dumps(
    [
        {"name": "input1", "index": 1.0, "description": "sharp", "descriptionEn": "Sharp"},
        {"name": "input2", "index": 2.0, "description": "soft", "descriptionEn": "Soft"},
    ]
)

APP_INPUTS: list[dict[str, Any]] = [
    _field("1", "RH_Text", "text", "STRING", "a cat in the snow"),
    _field("2", "PrimitiveInt", "value", "INT", "4"),
    _field("3", "PrimitiveFloat", "value", "FLOAT", "0.75"),
    _field("4", "ImpactSwitch", "select", "SWITCH", "1", fieldData=SWITCH_OPTIONS),
    _field("5", "RH_Ratio", "aspect_ratio", "LIST", "1:1", fieldData='["1:1", "16:9", "9:16"]'),
    _field("6", "LoadImage", "image", "IMAGE", "api/" + "a" * 64 + ".png"),
    _field("7", "LoadVideo", "video", "VIDEO", "api/" + "b" * 64 + ".mp4"),
    _field("8", "LoadAudio", "audio", "AUDIO", "api/" + "c" * 64 + ".wav"),
    _field("9", "RH_Bool", "flag", "BOOLEAN", "false"),
]


def write_pin(base: Path, kind: str, ident: str, content: Any, name: str = "") -> Path:
    path = pin_path(base, kind, ident)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pin_text(kind, ident, name, content, "2026-12-01T00:00:00Z"), "utf-8")
    return path
