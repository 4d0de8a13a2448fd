"""The wheel carries everything rhbatch reads at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import ROOT


def test_wheel_runs_from_anywhere(tmp_path: Path) -> None:
    """A built wheel holds the schemas and the report's style and script, and rhbatch run
    from / (imported from the wheel itself) finds them: validate a spec, list endpoints,
    and load the report's script."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("rhbatch-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rhbatch/_schemas/index.json" in names
    assert "rhbatch/_schemas/spec.schema.json" in names
    assert "rhbatch/_schemas/comfyui-nodes.json" in names  # ComfyUI node definitions
    assert sum(n.startswith("rhbatch/_schemas/endpoints/") for n in names) == 299
    assert "rhbatch/endpoints/data/runninghub-pricing.json" in names
    assert "rhbatch/emulator/data/clip.mp4" in names
    assert "rhbatch/store/assets/report.css" in names  # report.html's style and script
    assert "rhbatch/store/assets/report.js" in names
    spec = tmp_path / "one.yaml"
    spec.write_text("version: 1\nendpoint: seedance-2.0/multimodal-video\njobs: [{prompt: hi}]\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from rhbatch.cli import main; "
        "import rhbatch.endpoints.registry as s; assert s.__file__.startswith(sys.argv[1]), s.__file__; "
        "import rhbatch.store.report as r; assert 'IntersectionObserver' in r.SCRIPT; "
        "sys.exit(main(['validate', sys.argv[2]]) or main(['endpoints', 'hot', 'pot']) "
        "or main(['schema', 'seedance-2.0/multimodal-video']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(wheel), str(spec)],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{spec}: ok, 1 job (1 endpoint)" in result.stdout
    assert "realPersonMode" in result.stdout
