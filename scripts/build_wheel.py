"""Build the engine as a wheel for machines with no Blender (render-farm workers), with a console command.

    python scripts/build_wheel.py [--output-dir dist]

The wheel holds `engine/` as the import package `onnx_image_runtime` (a name of its own in a worker's Python:
`engine` is too common a name to put into site-packages), the console command `onnx-image-runtime` (the same
command line as `python -m engine`: run, sequence, info, convert, ...) and the runtime requirements pinned in
requirements.txt. onnxruntime-gpu has wheels for x86-64 Linux and Windows only; elsewhere the wheel asks for
the CPU build of the same version.

The wheel is written here with the standard library (a wheel is a zip with three metadata files), so building
it needs no build backend and no network, and the same checkout gives the same bytes: only the files git tracks
under engine/, names sorted, every entry with one fixed timestamp.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIST = "onnx_image_runtime"
PACKAGE = "onnx_image_runtime"
COMMAND = "onnx-image-runtime"
# The wheel's entries carry this date, not the build's: the same sources give the same wheel bytes.
FIXED_TIME = (2024, 1, 1, 0, 0, 0)
# onnxruntime-gpu's platforms; elsewhere (ARM Linux, macOS) the CPU build of the same version is required.
# (PEP 508 markers have no `not`: the complement is spelled out.)
_GPU_PLATFORMS = '(platform_system == "Linux" or platform_system == "Windows") and platform_machine in "x86_64 AMD64"'
_CPU_PLATFORMS = (
    '(platform_system != "Linux" and platform_system != "Windows") or platform_machine not in "x86_64 AMD64"'
)
# requirements.txt pins numpy 1.x for bpy 5.0.1 (Python 3.11); numpy 1.x has no wheels for Python 3.13, where the
# engine runs with what Blender 5.3's Python environment was tested with (tests/blender under bpy 5.3.0).
_PYTHON_313 = {"numpy": "numpy>=2,<3", "openimageio": "openimageio==3.2.2.0"}


def _project() -> tuple[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["version"], project["requires-python"]


def runtime_requirements() -> list[str]:
    """requirements.txt's pins as Requires-Dist lines: onnxruntime-gpu split by platform, numpy and OpenImageIO
    by Python version."""
    lines = []
    for raw in (REPO / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[=<>!~;\s]", line, maxsplit=1)[0].lower()
        if name == "onnxruntime-gpu":
            version = line[len(name) :]
            lines += [f"onnxruntime-gpu{version}; {_GPU_PLATFORMS}", f"onnxruntime{version}; {_CPU_PLATFORMS}"]
        elif name in _PYTHON_313:
            lines += [f'{line}; python_version < "3.13"', f'{_PYTHON_313[name]}; python_version >= "3.13"']
        else:
            lines.append(line)
    return lines


def _engine_files() -> list[Path]:
    """The engine's files as the checkout commits them (`git ls-files`): an untracked or ignored file in the working
    tree (an editor's leftover, someone's work in progress) never ships. Outside a git checkout (a source archive),
    every file under engine/."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "engine"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return [p for p in sorted((REPO / "engine").rglob("*")) if p.is_file()]
    return sorted(REPO / name for name in listed.split("\0") if name)


def _sources() -> list[tuple[str, bytes]]:
    """The engine's files under the wheel's package name (no caches, no compiled files)."""
    files = []
    for path in _engine_files():
        if "__pycache__" not in path.parts and path.suffix != ".pyc":
            relative = path.relative_to(REPO / "engine").as_posix()
            files.append((f"{PACKAGE}/{relative}", path.read_bytes()))
    return files


def _metadata(version: str, requires_python: str) -> list[tuple[str, bytes]]:
    info = f"{DIST}-{version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {DIST.replace('_', '-')}",
        f"Version: {version}",
        "Summary: ONNX Image Runtime's engine: ONNX image models on images and rendered frames, no Blender needed",
        f"Requires-Python: {requires_python}",
        *(f"Requires-Dist: {req}" for req in runtime_requirements()),
    ]
    wheel = ["Wheel-Version: 1.0", "Generator: onnx-image-runtime scripts/build_wheel.py", "Root-Is-Purelib: true"]
    wheel.append("Tag: py3-none-any")
    entry_points = ["[console_scripts]", f"{COMMAND} = {PACKAGE}.cli:main", ""]
    return [
        (f"{info}/METADATA", ("\n".join(meta) + "\n").encode()),
        (f"{info}/WHEEL", ("\n".join(wheel) + "\n").encode()),
        (f"{info}/entry_points.txt", "\n".join(entry_points).encode()),
    ]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(output_dir: Path) -> Path:
    version, requires_python = _project()
    entries = _sources() + _metadata(version, requires_python)
    record_name = f"{DIST}-{version}.dist-info/RECORD"
    record = "\n".join([*(_record_line(n, d) for n, d in entries), f"{record_name},,"]) + "\n"
    entries.append((record_name, record.encode()))
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{DIST}-{version}-py3-none-any.whl"
    partial = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            wheel.writestr(entry, data)
    partial.replace(target)  # a half-written wheel is never left under the wheel's name
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "dist")
    args = parser.parse_args(argv)
    print(build(args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
