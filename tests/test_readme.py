"""Every fenced ``bash`` block of README.md runs as printed, in a fresh directory, and leaves git clean.

A block is skipped only when the line before its fence is ``<!-- readme-test: skip -->`` (install, test-suite and
deployment recipes: ARCHITECTURE.md, "Decisions across issues"). The other blocks run in README order, one command
line at a time, in one temporary directory holding a copy of ``examples/`` (what a fresh checkout has), with no
``HOPNHAT_*`` setting inherited from the environment. Long-running commands (servers, the monitor, the relay,
``--watch``) are started, checked to answer, and stopped with SIGTERM, which must end them with exit code 0 (what
``systemctl stop`` relies on); a line ending in ``&`` is left running, as in a shell, until the walk ends.
Afterwards every path the commands wrote must be ignored by the repository's ``.gitignore``, so ``git status``
stays clean when README is followed in the checkout (the demo's ``legacy-demo/`` and ``portal-sim.db`` included).

Run ``python tests/test_readme.py`` to walk README by hand and see each command's time and output.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARKER = "<!-- readme-test: skip -->"
FENCE = re.compile(r"^```(\S*)(.*)$")

# How to tell that a long-running command is up: an HTTP path on its port, or a line it prints.
_SERVE_PORT = re.compile(r"--port[ =](\d+)")
_COMMENT = re.compile(r"\s+#\s.*$")  # a shell comment after a command (README's commands quote no " # ")


@dataclass
class Block:
    line: int  # README line of the opening fence
    commands: list[str]
    skipped: bool


@dataclass
class LongRunning:
    """How to check that a command that does not end by itself has started."""

    port: int | None = None
    path: str = "/"
    output: str | None = None  # a regular expression its output must match


@dataclass
class Walk:
    directory: Path
    log: list[str] = field(default_factory=list)
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)


def read_blocks(text: str) -> list[Block]:
    """The fenced ``bash`` blocks, each with its command lines (continuations joined; comments and blanks out)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        lang, rest = m.group(1), m.group(2).strip()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        if lang != "bash":
            continue
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        commands: list[str] = []
        pending = ""
        for raw in body:
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            command = (pending + raw).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
        blocks.append(Block(start + 1, commands, skipped=previous == SKIP_MARKER or rest == "skip"))
    return blocks


def long_running(command: str) -> LongRunning | None:
    """The check for a command that serves or loops until stopped; None for one that ends by itself."""
    words = shlex.split(_COMMENT.sub("", command).rstrip("&").split("&&")[-1])
    if words[:1] != ["hopnhat"]:
        return None
    port = _SERVE_PORT.search(command)
    if words[1:3] == ["legacy", "serve"]:
        return LongRunning(output=r"legacy API on http://")
    if words[1:2] == ["serve"]:
        return LongRunning(port=int(port.group(1)) if port else 8000, path="/api/v1/health")
    if words[1:2] == ["demo"] and "--no-serve" not in words:
        return LongRunning(port=int(port.group(1)) if port else 8000, path="/api/v1/health")
    if words[1:3] == ["portal", "simulate"]:
        return LongRunning(output=r"portal simulator on http://")
    if words[1:3] == ["portal", "relay"] and "--once" not in words:
        return LongRunning(output=r"delivering to")
    if words[1:2] == ["monitor"] and "--once" not in words:
        return LongRunning(output=r"monitor running")
    if "--watch" in words:
        return LongRunning(output=r"run 1 done")
    return None


def _environment(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPNHAT_", "PYTEST_", "COV_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "80"
    env["HOME"] = str(directory / ".home")
    (directory / ".home").mkdir(exist_ok=True)
    return env


# A password for the commands that ask for one (`users add`), typed twice as the prompt asks.
_TYPED = b"readme-Walk-2026!\nreadme-Walk-2026!\n"


def _start(walk: Walk, command: str) -> tuple[subprocess.Popen[bytes], list[str]]:
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=walk.directory,
        env=_environment(walk.directory),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a stop reaches uvicorn's workers too
    )
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            seen.append(raw.decode("utf-8", "replace"))

    threading.Thread(target=pump, daemon=True).start()
    return proc, seen


def _wait_ready(proc: subprocess.Popen[bytes], seen: list[str], check: LongRunning, command: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{command!r} ended with {proc.returncode} before answering:\n{''.join(seen)}")
        if check.output is not None and re.search(check.output, "".join(seen)):
            return
        if check.port is not None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{check.port}{check.path}", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.3)
    raise AssertionError(f"{command!r} did not answer in 90 s:\n{''.join(seen)}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return proc.wait()
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError("did not stop within 60 s of SIGTERM") from None


def run_command(walk: Walk, command: str) -> None:
    """Run one README line as a user would type it; raise AssertionError naming it when it fails."""
    started = time.monotonic()
    check = long_running(command)
    bare = _COMMENT.sub("", command)
    backgrounded = bare.endswith("&") and not bare.endswith("&&")
    if check is not None or backgrounded:
        line = bare[:-1].strip() if backgrounded else bare
        # The long-running command replaces the shell (`a && exec b`), so SIGTERM reaches it and its exit code is its
        # own, not that of a shell killed by the same signal.
        head, _, last = line.rpartition("&&")
        line = f"{head}&& exec {last.strip()}" if head else f"exec {line}"
        proc, seen = _start(walk, line)
        _wait_ready(proc, seen, check or LongRunning(), command)
        if backgrounded:
            walk.background.append(proc)
        else:
            code = _stop(proc)
            assert code == 0, f"{command!r} exited {code} on SIGTERM:\n{''.join(seen)}"
        walk.log.append(f"{time.monotonic() - started:6.1f} s  {command}")
        return
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=walk.directory,
        env=_environment(walk.directory),
        input=_TYPED,
        capture_output=True,
        timeout=300,
        check=False,
    )
    out = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    walk.log.append(f"{time.monotonic() - started:6.1f} s  {command}")
    assert done.returncode == 0, f"README command {command!r} exited {done.returncode}:\n{out[-4000:]}"


def walk_readme(directory: Path, on_command: Callable[[str], None] | None = None, keep_going: bool = False) -> Walk:
    shutil.copytree(ROOT / "examples", directory / "examples")
    walk = Walk(directory)
    try:
        for block in read_blocks(README.read_text(encoding="utf-8")):
            if block.skipped:
                continue
            for command in block.commands:
                try:
                    run_command(walk, command)
                except AssertionError as exc:
                    if not keep_going:
                        raise
                    walk.log.append(f"FAILED {exc}")
                if on_command is not None:
                    on_command(walk.log[-1])
    finally:
        for proc in walk.background:
            _stop(proc)
    return walk


def written_paths(directory: Path) -> Iterator[str]:
    """Every path the walk wrote, relative to its directory (the copied examples and HOME left out)."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if relative.split("/")[0] in ("examples", ".home") or path.is_dir():
            continue
        yield relative


def not_ignored(paths: list[str]) -> list[str]:
    """Those of ``paths`` (relative to the checkout) that the repository's .gitignore does not ignore."""
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin", "-z"],
        cwd=ROOT,
        input="\0".join(paths).encode() + b"\0",
        capture_output=True,
        check=False,
    )
    ignored = set(done.stdout.decode().split("\0"))
    return [p for p in paths if p not in ignored]


def test_readme_markers_are_the_documented_ones() -> None:
    """A block is skipped only with the documented marker, and the install and deployment recipes carry it."""
    text = README.read_text(encoding="utf-8")
    assert SKIP_MARKER in text  # README explains the marker
    blocks = read_blocks(text)
    assert len([b for b in blocks if not b.skipped]) >= 10
    for block in blocks:
        joined = "\n".join(block.commands)
        if re.search(r"pip install|pytest|systemctl|pg_basebackup|psql|useradd", joined):
            assert block.skipped, f"README line {block.line}: an install or deployment recipe must be marked to skip"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to check .gitignore")
def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    walk = walk_readme(tmp_path)
    print("\n".join(walk.log))  # each command's time, shown with -s or on failure
    left = not_ignored(list(written_paths(tmp_path)))
    assert not left, f"README's commands leave files git would show: {left}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="readme-walk-") as tmp:
        begun = time.monotonic()
        try:
            walk_readme(Path(tmp), on_command=print, keep_going=True)
        except AssertionError as exc:
            print(f"FAILED: {exc}")
            sys.exit(1)
        print(f"total {time.monotonic() - begun:.1f} s")
        print("not ignored:", not_ignored(list(written_paths(Path(tmp)))))
