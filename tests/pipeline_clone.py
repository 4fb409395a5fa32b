"""A user's clone of this project for the pipeline tests: the working tree copied into a temporary git
repository (tracked and untracked files, not ignored ones), with the test profile's params, and the
helpers those tests share (running a command, editing params, killing a stage mid-run).

The test profile: the default pipeline with every training stage cut to one epoch, about a quarter of the
synthetic data, and evaluate's cost and interval figures at their smallest that still exercise them.
`make demo` runs the full default (timed in docs/REPORT.md).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
PREPROCESSING = ["ingest", "extract_keypoints", "sample_clips", "render_heatmaps", "decode_rgb"]


def run(cmd: list[str], cwd: Path, timeout: int = 1800, env: dict | None = None) -> str:
    # The limit catches a hung command, not a slow machine: the test profile's `dvc repro` takes 430 to 570 s
    # on a 2-core AMD EPYC VM and went past 900 s there with a training running beside the suite.
    done = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def set_param(repo: Path, dotted: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_clone(repo: Path) -> Path:
    """The working tree (tracked and untracked, not ignored) copied to `repo` and committed there, as a
    user's clone would be, in the test profile below; no data, no models."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repo / name)
    for generated in ("data", "models"):  # what a clone has: no generated data, no trained models
        shutil.rmtree(repo / generated, ignore_errors=True)
    # The default profile, with the training stages cut to one epoch each so the suite stays quick;
    # `make demo` runs the full default (timed in docs/REPORT.md).
    for stage in ("teacher", "student", "joint", "rgb_only"):
        set_param(repo, f"train.{stage}.epochs", 1)
    for baseline in ("gcn", "msg3d", "sta_lstm", "i3d"):
        set_param(repo, f"{baseline}.epochs", 1)
    # About a quarter of the default data (8 subjects of 31; 24 clips each: 192 clips, 48 in val and 48 in test)
    for key, value in {"num_subjects": 8, "val_subjects": 2, "test_subjects": 2}.items():
        set_param(repo, f"data.synthetic.{key}", value)
    set_param(repo, "evaluate.end_to_end_clips", 2)
    # evaluate's cost and interval figures at their smallest that still exercise them (3 evaluate runs)
    for key, value in {"latency_repeats": 1, "throughput_batch": 4, "bootstrap_resamples": 200,
                       "attention_clips": 1}.items():
        set_param(repo, f"evaluate.{key}", value)
    (repo / "data").mkdir()
    if (PROJECT_ROOT / "data" / ".gitignore").exists():
        shutil.copy2(PROJECT_ROOT / "data" / ".gitignore", repo / "data" / ".gitignore")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "clone"], repo)
    return repo


def params_file(repo: Path, directory: Path, changes: dict) -> Path:
    """A copy of the repo's params.yaml with `changes` (dotted keys), for a stage run by hand."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(repo / "params.yaml", directory / "params.yaml")
    for dotted, value in changes.items():
        set_param(directory, dotted, value)
    return directory / "params.yaml"


def run_until_killed(cmd: list[str], cwd: Path, ready, env: dict | None = None, timeout: float = 600) -> str:
    """Start `cmd` and SIGKILL its whole process group the moment `ready(output so far)` holds,
    as a crash or an out-of-memory kill would; returns what it printed."""
    process = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while not ready("".join(lines)):
            assert process.poll() is None, f"{cmd} ended before the kill:\n{''.join(lines)[-3000:]}"
            assert time.monotonic() < deadline, f"{cmd}: not ready after {timeout} s"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    reader.join(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return "".join(lines)


def same_files(left: Path, right: Path, pattern: str) -> list[str]:
    names = sorted(p.name for p in left.glob(pattern))
    assert names and names == sorted(p.name for p in right.glob(pattern))
    for name in names:
        assert (left / name).read_bytes() == (right / name).read_bytes(), name
    return names
