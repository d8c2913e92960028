"""Build installable extension zips, one per platform and Python, with the wheels Blender lacks bundled.

    python scripts/build_extension.py [--platform linux-x64 windows-x64 ...] [--python 3.11 3.13]
                                      [--wheel-dir DIR] [--offline] [--runtime cpu|gpu] [--output-dir dist]

For each Python (3.11: Blender 4.2 to 5.0; 3.13: Blender 5.1 and later) it downloads the pinned wheels for
every platform into the wheel cache (`--wheel-dir`, default `.wheel-cache/`), copies the ones it needs into
`./wheels/` of a staged copy of the sources, writes `wheels`, `platforms` and the Blender version range into
that copy's `blender_manifest.toml` (the checkout is never modified), and
runs Blender's own builder (`blender_ext.py build --split-platforms`) and validator on each zip. Blender
installs every wheel of a zip whatever its Python tag (and keeps one per package name), so each Python gets
its own zips, told apart by Blender version range:
`onnx_image_runtime-<version>-blender4.2-5.0-linux_x64.zip`.

Not bundled: numpy (Blender ships it) and OpenImageIO (Blender 5.0 ships its Python module). The
onnxruntime is the CPU build by default (about 24 MB); the CUDA runtime is an opt-in download from the
preferences (`--runtime gpu` bundles onnxruntime-gpu instead, about 255 MB per zip, and still needs the
CUDA libraries).

Blender's builder is found in the `bpy` package of this Python (`--blender-ext PATH` overrides).
`--staging DIR` chooses where the copy goes and keeps it (default: a temporary folder, removed when the build
ends, so a build leaves only its zips).
"""

from __future__ import annotations

import argparse
import email.parser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "blender_manifest.toml"

# Blender's Python for each supported Blender: (first Blender, first Blender that is not supported).
PYTHONS = {"3.11": ("4.2.0", "5.1.0", "blender4.2-5.0"), "3.13": ("5.1.0", None, "blender5.1-and-later")}

# Platform names of Blender's manifest, and the wheel platform tags each accepts (newest first).
_MANYLINUX = ["manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014", "manylinux_2_12"]
_MANYLINUX += ["manylinux2010", "manylinux_2_5", "manylinux1"]
PLATFORMS = {
    "linux-x64": [f"{m}_x86_64" for m in _MANYLINUX],
    "linux-arm64": [f"{m}_aarch64" for m in _MANYLINUX if "2010" not in m and m != "manylinux1"],
    "windows-x64": ["win_amd64"],
    "windows-arm64": ["win_arm64"],
    # macOS 14 is the oldest release onnxruntime 1.31 has wheels for; universal2 wheels count too.
    "macos-arm64": list(tags.mac_platforms((14, 0), "arm64")),
    "macos-x64": list(tags.mac_platforms((14, 0), "x86_64")),
}
DEFAULT_PLATFORMS = ("linux-x64", "windows-x64", "macos-arm64")
# onnxruntime-gpu exists only for these.
GPU_PLATFORMS = ("linux-x64", "windows-x64")

# What Blender's own Python already has (its site-packages): never bundled.
BLENDER_PROVIDES = {"numpy", "requests", "certifi", "charset-normalizer", "idna", "urllib3", "zstandard", "cython"}
# In requirements.txt but not bundled: Blender 5.0 ships the OpenImageIO module, and a second copy of the
# library in Blender's process would clash with Blender's own.
NOT_BUNDLED = {"openimageio"}


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(requirements: Path, runtime: str, platform: str) -> list[Pin]:
    """The exact wheels a zip for `platform` bundles: requirements.txt's pins, minus what Blender has."""
    pins = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if name in BLENDER_PROVIDES or name in NOT_BUNDLED:
            continue
        versions = [s.version for s in req.specifier if s.operator == "=="]
        if not versions:
            raise BuildError(f"{requirements.name}: {line!r} must be pinned with == to be bundled")
        if name in ("onnxruntime", "onnxruntime-gpu"):
            gpu = runtime == "gpu" and platform in GPU_PLATFORMS
            name = "onnxruntime-gpu" if gpu else "onnxruntime"
        pins.append(Pin(name, versions[0]))
    return pins


def supported_tags(python: str, platform: str) -> list[tags.Tag]:
    version = tuple(int(p) for p in python.split("."))
    interpreter = f"cp{version[0]}{version[1]}"
    plats = PLATFORMS[platform]
    return list(tags.cpython_tags(version, [interpreter], plats)) + list(
        tags.compatible_tags(version, interpreter, plats)
    )


def find_wheel(cache: Path, pin: Pin, supported: list[tags.Tag]) -> Path | None:
    """The best cached wheel for the pin (the first supported tag wins, like pip)."""
    rank = {tag: i for i, tag in enumerate(supported)}
    best, best_rank = None, len(rank)
    for path in cache.glob("*.whl"):
        try:
            name, version, _, wheel_tags = parse_wheel_filename(path.name)
        except ValueError:
            continue
        if name != canonicalize_name(pin.name) or str(version) != pin.version:
            continue
        r = min((rank[t] for t in wheel_tags if t in rank), default=len(rank))
        if r < best_rank:
            best, best_rank = path, r
    return best


def download(cache: Path, pins: list[Pin], python: str, platform: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--dest", str(cache)]
    command += ["--python-version", python, "--implementation", "cp", "--disable-pip-version-check"]
    for plat in PLATFORMS[platform]:
        command += ["--platform", plat]
    command += [str(p) for p in pins]
    print(f"downloading for Python {python}, {platform}: {', '.join(map(str, pins))}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"pip download failed for {platform}, Python {python}:\n{done.stdout}{done.stderr}")


def wheels_for(cache: Path, python: str, platform: str, runtime: str, offline: bool) -> list[Path]:
    pins = read_pins(REPO / "requirements.txt", runtime, platform)
    supported = supported_tags(python, platform)
    missing = [p for p in pins if find_wheel(cache, p, supported) is None]
    if missing and not offline:
        cache.mkdir(parents=True, exist_ok=True)
        download(cache, missing, python, platform)
    found, still = [], []
    for pin in pins:
        wheel = find_wheel(cache, pin, supported)
        (found.append(wheel) if wheel else still.append(str(pin)))
    if still:
        how = "(--offline: fill the wheel folder first)" if offline else "(no wheel on the index?)"
        raise BuildError(f"no wheel for Python {python} on {platform} in {cache}: {', '.join(still)} {how}")
    check_closure(found, python, platform)
    return found


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))


def check_closure(wheels: list[Path], python: str, platform: str) -> None:
    """Every runtime dependency of the bundled wheels is bundled too or shipped by Blender."""
    bundled = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    system = {"linux": "Linux", "windows": "Windows", "macos": "Darwin"}[platform.split("-")[0]]
    env = {
        "python_version": python,
        "python_full_version": python + ".0",
        "platform_system": system,
        "sys_platform": {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}[system],
        "platform_machine": "x86_64" if platform.endswith("x64") else "arm64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "nt" if system == "Windows" else "posix",
        "extra": "",
    }
    lacking = []
    for wheel in wheels:
        for line in _metadata(wheel).get_all("Requires-Dist") or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            if name not in bundled and name not in BLENDER_PROVIDES:
                lacking.append(f"{wheel.name} needs {line}")
    if lacking:
        raise BuildError(
            "dependencies neither bundled nor in Blender (pin them in requirements.txt):\n" + "\n".join(lacking)
        )


def set_manifest_keys(text: str, values: dict[str, object]) -> str:
    """Replace (or add, or with None remove) top-level keys of the manifest, keeping everything else."""
    match = re.search(r"^\[", text, re.M)
    head, tail = (text[: match.start()], text[match.start() :]) if match else (text, "")
    for key, value in values.items():
        head = re.sub(rf"^{re.escape(key)}\s*=\s*(\[[^\]]*\]|[^\n]*)\n", "", head, flags=re.M)
        if value is None:
            continue
        if isinstance(value, list):
            rendered = f"{key} = [\n" + "".join(f'  "{v}",\n' for v in value) + "]"
        else:
            rendered = f'{key} = "{value}"'
        head = head.rstrip("\n") + "\n" + rendered + "\n"
    return head.rstrip("\n") + "\n\n" + tail if tail else head


def blender_ext_script(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        raise BuildError("Blender's builder not found: install the bpy module or pass --blender-ext PATH")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"no */scripts/addons_core/bl_pkg/cli/blender_ext.py under {Path(spec.origin).parent}")
    return found[-1]


def stage(source: Path, staging: Path) -> Path:
    """A copy of the extension's sources to build from (the builder's exclude patterns still apply)."""
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "dist",
        "wheels",
        ".wheel-cache",
        ".gpu",
    )
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(source, staging, ignore=ignore, symlinks=True)
    return staging


def build(args) -> list[Path]:
    # Always a copy: the checkout's manifest stays free of wheel lists that only exist in a build.
    output = Path(args.output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    if args.staging:
        return _build(args, stage(REPO, Path(args.staging).resolve()), output)
    # A 50 MB copy of the sources is of no use once the zips are built: it goes with the build, failed or not.
    staging = Path(tempfile.mkdtemp(prefix="onnx_image_runtime_staging_"))
    try:
        return _build(args, stage(REPO, staging), output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build(args, source: Path, output: Path) -> list[Path]:
    cache = Path(args.wheel_dir).resolve()
    builder = blender_ext_script(args.blender_ext)
    manifest_path = source / MANIFEST
    version = re.search(r'^version\s*=\s*"([^"]+)"', manifest_path.read_text(), re.M).group(1)
    zips = []
    # The last Python built is the one the manifest keeps: the oldest, which most Blenders use.
    for python in sorted(args.python, key=lambda v: tuple(map(int, v.split("."))), reverse=True):
        first, past, label = PYTHONS[python]
        wheels: list[Path] = []
        for platform in args.platform:
            wheels += [w for w in wheels_for(cache, python, platform, args.runtime, args.offline) if w not in wheels]
        target = source / "wheels"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for wheel in wheels:
            try:
                os.link(wheel, target / wheel.name)
            except OSError:
                shutil.copy2(wheel, target / wheel.name)
        text = set_manifest_keys(
            manifest_path.read_text(),
            {
                "blender_version_min": first,
                "blender_version_max": past,
                "platforms": list(args.platform),
                "wheels": [f"./wheels/{w.name}" for w in sorted(wheels, key=lambda p: p.name)],
            },
        )
        manifest_path.write_text(text)
        zip_path = output / f"{source_id(text)}-{version}-{label}.zip"
        started = time.perf_counter()
        run(
            [sys.executable, str(builder), "build", "--source-dir", str(source), "--output-filepath", str(zip_path)]
            + ["--split-platforms"]
        )
        for platform in args.platform:
            built = zip_path.with_name(f"{zip_path.stem}-{platform.replace('-', '_')}.zip")
            if not built.exists():
                raise BuildError(f"the builder did not write {built}")
            run([sys.executable, str(builder), "validate", str(built)])
            size = built.stat().st_size / 2**20
            print(f"built {built} ({size:.1f} MB) in {time.perf_counter() - started:.1f} s", flush=True)
            zips.append(built)
    return zips


def source_id(manifest_text: str) -> str:
    return re.search(r'^id\s*=\s*"([^"]+)"', manifest_text, re.M).group(1)


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(command[1:3])} failed:\n{done.stdout}{done.stderr}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", nargs="+", default=list(DEFAULT_PLATFORMS), choices=sorted(PLATFORMS))
    parser.add_argument("--python", nargs="+", default=sorted(PYTHONS), choices=sorted(PYTHONS))
    parser.add_argument(
        "--wheel-dir",
        default=os.environ.get("ONNX_IMAGE_RUNTIME_WHEEL_CACHE") or str(REPO / ".wheel-cache"),
        help="wheel cache: filled by pip download unless --offline (env ONNX_IMAGE_RUNTIME_WHEEL_CACHE)",
    )
    parser.add_argument("--offline", action="store_true", help="use only the wheels already in --wheel-dir")
    parser.add_argument("--runtime", choices=("cpu", "gpu"), default="cpu", help="bundle onnxruntime or -gpu")
    parser.add_argument("--output-dir", default=str(REPO / "dist"))
    parser.add_argument(
        "--staging", help="where to copy the sources to build from, kept (default: a temporary folder, removed)"
    )
    parser.add_argument("--blender-ext", help="path of Blender's blender_ext.py")
    args = parser.parse_args(argv)
    try:
        zips = build(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(str(z) for z in zips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
