"""One task of the Open Job Description jobs in this folder: Python standard library only, any Python 3.9+.

    python onnx_task.py install-engine --wheel W.whl --into DIR      # a job environment's onEnter
    python onnx_task.py postprocess --frames 1-10 --model M --input-dir R --input-pattern '####.exr'
                                    --output-dir P --output-pattern '####.exr' [--precision P] [--cache-dir D]
                                    [--require-gpu yes] [--working-space rec709] [--engine-dir DIR]
    python onnx_task.py render --blender blender --scene-file shot.blend --frames 1-10 [--output-dir R]

`install-engine` creates a virtual environment in DIR (the session's working folder) from the engine's wheel and
prints `openjd_env: ONNX_IMAGE_RUNTIME_ENGINE=<its onnx-image-runtime command>`, so every task of the session
uses it; with no wheel it does nothing (the engine is installed on the worker). `postprocess` runs the engine's
`sequence` command on the chunk with --skip-existing: the command from that environment, else `python -m engine`
from --engine-dir, else `onnx-image-runtime` on PATH. It turns the engine's progress lines into
`openjd_progress:` / `openjd_status:` lines, prints `openjd_fail:` for every failed frame, and exits with the
engine's status (3 when a frame failed, 4 when --require-gpu finds no GPU). Folders are path parameters (mapped
and attached by the farm); patterns are file names inside them. `render` runs
`blender -b FILE [-o R/#### -x 1] -s A -e B [-j STEP] -a` on a chunk `A-B[:STEP]` and reports progress per
`Saved:` line. Frame chunks come in Open Job Description range syntax (`1-10`, `1-9:2`, `3,5,7-9`); the
engine's spelling of a step is `1-9x2`.

The templates embed this file verbatim (embeddedFiles); tests/farm checks that the copies are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading

PROGRESS = re.compile(r"^\[[# ]*\]\s+([0-9.]+)%\s*(.*?)(?:, [0-9.]+s)?$")
SAVED = re.compile(r"(^|\| )Saved: ")  # Blender 4.x: "Saved: 'x.exr'"; 5.x: "00:00.794  render  | Saved: 'x.exr'"
RANGE_PART = re.compile(r"^(-?\d+)(?:-(-?\d+)(?::(-?\d+))?)?$")
ENGINE_ENV = "ONNX_IMAGE_RUNTIME_ENGINE"  # set by install-engine through `openjd_env:` for the whole session
COMMAND = "onnx-image-runtime"


# Child output is UTF-8 (Blender's, Python's with PYTHONUTF8 or not): read as such on every worker; the locale's
# code page on Windows (cp1252) cannot decode it and would end the task with a decode error.
TEXT = {"text": True, "encoding": "utf-8", "errors": "replace"}


def command_words(text: str, windows: bool) -> list[str]:
    """A command line given as one parameter ('blender', '"C:\\Program Files\\Blender\\blender.exe" --factory-startup')
    as its words. Windows keeps backslashes (no POSIX escapes) but drops the quotes around a word: a quoted
    executable path would otherwise reach CreateProcess with its quotes and not be found."""
    words = shlex.split(text, posix=not windows)
    if windows:
        words = [w[1:-1] if len(w) >= 2 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]
    return words


def say(line: str) -> None:
    print(line, flush=True)


def engine_frames(chunk: str) -> str:
    """'1-9:2,12' (Open Job Description) -> '1-9x2,12' (the engine's `--frames`)."""
    parts = []
    for part in chunk.replace(" ", "").split(","):
        match = RANGE_PART.match(part)
        if not match:
            raise ValueError(f"bad frame range {chunk!r}")
        start, end, step = match.groups()
        if end is None:
            parts.append(start)
            continue
        first, last, by = int(start), int(end), abs(int(step or 1))
        if first > last:  # a descending range: the same frames, ascending
            first, last = last + (first - last) % by, first
        parts.append(f"{first}-{last}" + (f"x{by}" if by != 1 else ""))
    return ",".join(parts)


def chunk_bounds(chunk: str) -> tuple[int, int, int]:
    """'11-20' -> (11, 20, 1); '1-46:5' -> (1, 46, 5); '7' -> (7, 7, 1): Blender's -s, -e and -j."""
    match = RANGE_PART.match(chunk.strip())
    if not match:
        raise ValueError(f"a render chunk must be one range like 11-20 or 1-46:5, not {chunk!r}")
    start, end, step = int(match.group(1)), int(match.group(2) or match.group(1)), int(match.group(3) or 1)
    if start > end:
        start, end, step = end + (start - end) % abs(step), start, abs(step)
    return start, end, step


def _pump(stream, sink: list) -> None:
    sink.append(stream.read())


def inside(folder: str, pattern: str, what: str) -> str:
    """A file-name pattern joined to its (path-mapped) folder; a pattern that leaves the folder is refused, since
    the farm maps and attaches the folder only."""
    parts = pattern.replace("\\", "/").split("/")
    if not pattern or os.path.isabs(pattern) or re.match(r"^[A-Za-z]:", pattern) or ".." in parts:
        raise ValueError(f"{what} must be a file name pattern inside its folder, like ####.exr, not {pattern!r}")
    return os.path.join(folder, pattern)


def engine_command(args) -> tuple[list[str], dict]:
    """The engine's command line and environment on this worker (see the module's docstring for the order)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    installed = env.get(ENGINE_ENV, "")
    if installed:
        return [installed], env
    if args.engine_dir:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.engine_dir, env.get("PYTHONPATH", "")) if p)
        return [args.python or sys.executable, "-m", "engine"], env
    found = shutil.which(COMMAND)
    if not found:
        raise OSError(
            f"the engine is not on this worker: attach its wheel (EngineWheel), give EngineDir, or install {COMMAND}"
            " on the fleet (docs/farm.md)"
        )
    return [found], env


def venv_command(folder: str, name: str) -> str:
    return os.path.join(folder, "Scripts", name + ".exe") if os.name == "nt" else os.path.join(folder, "bin", name)


def install_engine(args) -> int:
    if not args.wheel:
        say("openjd_status: using the engine installed on this worker")
        return 0
    if not os.path.isfile(args.wheel):
        raise OSError(f"engine wheel not found: {args.wheel}")
    venv = os.path.join(args.into, "onnx-image-runtime-venv")
    say(f"openjd_status: installing {os.path.basename(args.wheel)} into {venv}")
    python = args.python or sys.executable
    for command in ([python, "-m", "venv", venv], [venv_command(venv, "python"), "-m", "pip", "install", args.wheel]):
        say("running: " + " ".join(shlex.quote(c) for c in command))
        code = subprocess.call(command)
        if code != 0:
            say(f"openjd_fail: could not install the engine (exit status {code} from {command[0]})")
            return code
    say(f"openjd_env: {ENGINE_ENV}={venv_command(venv, COMMAND)}")
    return 0


def postprocess(args) -> int:
    engine, env = engine_command(args)
    source = inside(args.input_dir, args.input_pattern, "InputPattern")
    target = inside(args.output_dir, args.output_pattern, "OutputPattern")
    command = [*engine, "sequence", args.model, "--input", source, "--output", target]
    command += ["--frames", engine_frames(args.frames), "--skip-existing", "--precision", args.precision]
    if args.working_space and args.working_space != "auto":  # auto: each frame's header, the engine's default
        command += ["--working-space", args.working_space]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    if args.require_gpu.lower() in ("yes", "true", "1", "on"):
        command.append("--require-gpu")
    command += args.extra
    say("running: " + " ".join(shlex.quote(c) for c in command))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **TEXT)
    stdout: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc.stdout, stdout), daemon=True)
    reader.start()
    errors = []
    for raw in proc.stderr:
        line = raw.rstrip("\n")
        match = PROGRESS.match(line)
        if match:
            say(f"openjd_progress: {float(match.group(1)):.1f}")
            if match.group(2):
                say(f"openjd_status: {match.group(2)}")
        elif line:
            say(line)
            if line.startswith("error:"):
                errors.append(line[len("error:") :].strip())
    code = proc.wait()
    reader.join()
    text = "".join(stdout)
    if text.strip():
        say(text.rstrip("\n"))
    summary = {}
    try:
        summary = json.loads(text) if text.strip() else {}
    except ValueError:
        pass
    failed = (summary.get("failed") or {}) if isinstance(summary, dict) else {}
    for frame, reason in sorted(failed.items(), key=lambda item: int(item[0])):
        say(f"openjd_fail: frame {frame}: {reason}")
    if code != 0:
        if failed:
            frames = ", ".join(sorted(failed, key=int))
            say(f"openjd_fail: {len(failed)} frame(s) failed (frames {frames}); exit status {code}")
        else:
            say(f"openjd_fail: {errors[-1] if errors else 'the engine failed'} (exit status {code})")
    elif summary:
        done, skipped = len(summary.get("done", [])), len(summary.get("skipped", []))
        say(f"openjd_status: done {done}, skipped {skipped}")
    return code


def render(args) -> int:
    start, end, step = chunk_bounds(args.frames)
    blender = command_words(args.blender, windows=os.name == "nt")
    command = [*blender, "-b", args.scene_file]
    if args.output_dir:
        # Blender's -o takes the path without the extension it adds itself (-x 1): the frames land where the
        # post-process looks for them, under the path-mapped folder, whatever the .blend says.
        output = inside(args.output_dir, args.output_pattern, "InputPattern")
        command += ["-o", os.path.splitext(output)[0], "-x", "1"]
    command += ["-s", str(start), "-e", str(end)]
    command += (["-j", str(step)] if step != 1 else []) + ["-a"]
    total = len(range(start, end + 1, step))
    say("running: " + " ".join(shlex.quote(c) for c in command))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **TEXT)
    saved = 0
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        say(line)
        if SAVED.search(line):
            saved += 1
            say(f"openjd_progress: {100.0 * min(saved, total) / total:.1f}")
    code = proc.wait()
    if code != 0:
        say(f"openjd_fail: Blender exited with status {code} rendering frames {start}-{end}")
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="onnx_task.py")
    sub = parser.add_subparsers(dest="action", required=True)
    install = sub.add_parser("install-engine")
    install.add_argument("--wheel", default="", help="the engine's wheel (empty: use the worker's engine)")
    install.add_argument("--into", required=True, help="the folder for the virtual environment")
    install.add_argument("--python", default="", help="the Python to create it with (default: this one)")
    install.set_defaults(func=install_engine)
    post = sub.add_parser("postprocess")
    post.add_argument("--engine-dir", default="", help="a folder holding engine/ (a checkout or the extension)")
    post.add_argument("--python", default="", help="interpreter for --engine-dir (default: this one)")
    post.add_argument("--frames", required=True)
    post.add_argument("--model", required=True)
    post.add_argument("--input-dir", required=True)
    post.add_argument("--input-pattern", required=True)
    post.add_argument("--output-dir", required=True)
    post.add_argument("--output-pattern", required=True)
    post.add_argument("--precision", default="auto")
    post.add_argument("--working-space", default="")
    post.add_argument("--cache-dir", default="")
    post.add_argument("--require-gpu", default="no")
    post.add_argument("extra", nargs="*", help="more `sequence` options, after --")
    post.set_defaults(func=postprocess)
    ren = sub.add_parser("render")
    ren.add_argument("--blender", default="blender", help="the Blender command (may include arguments)")
    ren.add_argument("--scene-file", required=True)
    ren.add_argument("--frames", required=True)
    ren.add_argument("--output-dir", default="", help="where the frames go (default: where the .blend says)")
    ren.add_argument("--output-pattern", default="####.exr", help="their file names inside --output-dir")
    ren.set_defaults(func=render)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as exc:
        say(f"openjd_fail: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
