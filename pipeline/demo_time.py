"""`make demo`'s wall time, the install included, with the machine and the commit that ran it.

    make demo    # runs this last: python -m pipeline.demo_time --started <epoch seconds before the install>

The default demo is held to `BUDGET_SECONDS` on 2 CPU cores (README). DVC times no `dvc repro` and the
stages' own timing files (`metrics/timing/*.json`) leave out the install, DVC itself and the stages that
record no time, so the figure the budget is read from is this one: `metrics/demo_time.json`, rendered into
the report's time budget by `pipeline.results_table`. It is one run's, on the machine it names.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.core.machine import describe_machine

BUDGET_SECONDS = 20 * 60


def _commit() -> dict:
    """The commit the demo ran, and whether the working tree had changes to tracked files beside it."""
    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    # The code and params only: the demo itself rewrites the metrics, plots and dvc.lock it tracks.
    status = git("status", "--porcelain", "--untracked-files=no", "--", "crychic", "stages", "pipeline",
                 "params.yaml", "dvc.yaml")
    return {"commit": git("rev-parse", "HEAD"), "code_changed": None if status is None else bool(status)}


def record(started: float, ended: float | None = None, timing_dir: str | Path = "metrics/timing") -> dict:
    """The run's seconds, and how many of the stages that time themselves wrote their timing file during it:
    a `dvc repro` with stages up to date (a second `make demo`) is not a timing of the demo."""
    seconds = round((time.time() if ended is None else ended) - started, 1)
    timed = sorted(Path(timing_dir).glob("*.json"))
    ran = sum(path.stat().st_mtime >= started for path in timed)
    return {"seconds": seconds, "budget_seconds": BUDGET_SECONDS, "within_budget": seconds <= BUDGET_SECONDS,
            "timed_stages_run": ran, "timed_stages": len(timed), "complete": bool(timed) and ran == len(timed),
            **_commit(), "machine": describe_machine()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--started", type=float, required=True, help="epoch seconds when `make demo` began")
    parser.add_argument("--out", default="metrics/demo_time.json")
    args = parser.parse_args(argv)
    result = record(args.started)
    write_json(args.out, result)
    verdict = ("within" if result["within_budget"] else "OVER") + f" the {BUDGET_SECONDS // 60}-minute budget"
    if not result["complete"]:
        verdict = (f"{result['timed_stages_run']} of {result['timed_stages']} timed stages ran: a partial run, "
                   "not the budget's figure")
    print(f"[demo] {int(result['seconds'] // 60)} min {result['seconds'] % 60:.0f} s, the install included ({verdict}); "
          f"{args.out}")
    return result


if __name__ == "__main__":
    main()
