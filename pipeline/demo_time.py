"""`make demo`'s wall time, the install included, with the machine and the commit that ran it.

    make demo    # runs this last: python -m pipeline.demo_time --started <before the install> --repro-started <after it>
    python -m pipeline.demo_time --trial CLONE --label "what the commit cut"   # a budget trial, below

The default demo is held to `BUDGET_SECONDS` on 2 CPU cores (README). DVC times no `dvc repro` and the
stages' own timing files (`metrics/timing/*.json`) leave out the install, DVC itself and the stages that
record no time, so the figure the budget is read from is this one: `metrics/demo_time.json`, rendered into
the report's time budget by `pipeline.results_table`. It is one run's, on the machine it names.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.core.machine import describe_machine

BUDGET_SECONDS = 20 * 60
# Cuts of the default tried against the budget: each a fresh clone's `make demo` at a commit that changed the
# default (on a branch kept in the history), collected from that clone by `--trial`, so the report can say
# what a cut saves and what it costs the networks it trains.
TRIALS = "metrics/demo_budget_trials.json"
TRIAL_NETWORKS = ("teacher", "student", "joint", "rgb_only", "i3d")  # val top-1 of their kept epochs


def format_minutes(seconds: float) -> str:
    """"29 min 59 s": whole seconds, so that 119.7 s reads 2 min 0 s, never 1 min 60 s."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _commit() -> dict:
    """The commit the demo ran, and whether the working tree had changes to tracked files beside it."""
    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    # The code and params only: the demo itself rewrites the metrics, plots and dvc.lock it tracks.
    status = git("status", "--porcelain", "--untracked-files=no", "--", "crychic", "stages", "pipeline",
                 "params.yaml", "dvc.yaml")
    return {"commit": git("rev-parse", "HEAD"), "code_changed": None if status is None else bool(status)}


def record(started: float, ended: float | None = None, timing_dir: str | Path = "metrics/timing",
           repro_started: float | None = None) -> dict:
    """The run's seconds, and how many of the stages that time themselves wrote their timing file during it:
    a `dvc repro` with stages up to date (a second `make demo`) is not a timing of the demo. With
    `repro_started` (when the install ended and `dvc repro` began) also the two parts: issue 23 holds the
    `dvc repro` to the budget, the README's set-up promise the whole `make demo`, so both are read."""
    ended = time.time() if ended is None else ended
    seconds = round(ended - started, 1)
    timed = sorted(Path(timing_dir).glob("*.json"))
    ran = sum(path.stat().st_mtime >= started for path in timed)
    parts = {}
    if repro_started is not None:
        repro = round(ended - repro_started, 1)
        parts = {"install_seconds": round(repro_started - started, 1), "repro_seconds": repro,
                 "repro_within_budget": repro <= BUDGET_SECONDS}
    return {"seconds": seconds, "budget_seconds": BUDGET_SECONDS, "within_budget": seconds <= BUDGET_SECONDS, **parts,
            "timed_stages_run": ran, "timed_stages": len(timed), "complete": bool(timed) and ran == len(timed),
            **_commit(), "machine": describe_machine()}


def record_forced_repro(out: str | Path, started: float, ended: float | None = None,
                        timing_dir: str | Path = "metrics/timing") -> dict:
    """A `make demo` whose `dvc repro` skipped stages (a fresh clone whose networks come out byte for byte the
    committed run's: DVC finds `evaluate` up to date) is no timing of the whole pipeline; the same clone's
    `dvc repro -f evaluate` right after runs every stage. Its seconds and budget verdict go into the demo's
    record as `forced_repro`, beside the install's seconds, which the forced run does not repeat."""
    demo = json.loads(Path(out).read_text())
    timing = record(started, ended, timing_dir)
    demo["forced_repro"] = {key: timing[key] for key in ("seconds", "timed_stages_run", "timed_stages", "complete",
                                                         "within_budget")}
    write_json(out, demo)
    forced = demo["forced_repro"]
    print(f"[demo] forced `dvc repro`: {format_minutes(forced['seconds'])}, "
          f"{forced['timed_stages_run']} of {forced['timed_stages']} timed stages ran; {out}")
    return demo


def trial(clone: str | Path, label: str) -> dict:
    """One budget trial from a clone where `make demo` ran: its wall time and commit (`demo_time.json`), each
    timed stage's seconds, and the val top-1 its training stages kept (`TRIAL_NETWORKS`)."""
    metrics = Path(clone) / "metrics"
    demo = json.loads((metrics / "demo_time.json").read_text())
    if not demo.get("complete") or demo.get("code_changed") is not False:
        raise ValueError(f"{metrics / 'demo_time.json'}: not a complete `make demo` of a clean commit")
    stages = {path.stem: json.loads(path.read_text()).get("seconds") for path in sorted((metrics / "timing").glob("*.json"))}
    val = {name: json.loads((metrics / f"train_{name}.json").read_text()).get("val_top1") for name in TRIAL_NETWORKS}
    parts = {key: demo[key] for key in ("install_seconds", "repro_seconds", "repro_within_budget") if key in demo}
    return {"label": label, "commit": demo["commit"], "seconds": demo["seconds"], "within_budget": demo["within_budget"],
            **parts, "stage_seconds": stages, "val_top1": val, "machine": demo["machine"]}


def add_trial(entry: dict, path: str | Path = TRIALS) -> list[dict]:
    """The trials file with `entry` in it (replacing one of the same commit)."""
    path = Path(path)
    trials = [t for t in (json.loads(path.read_text()) if path.is_file() else []) if t["commit"] != entry["commit"]]
    trials.append(entry)
    write_json(path, trials)
    return trials


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--started", type=float, help="epoch seconds when `make demo` began")
    parser.add_argument("--repro-started", type=float, help="epoch seconds when its `dvc repro` began (the install done)")
    parser.add_argument("--out", default="metrics/demo_time.json")
    parser.add_argument("--forced-started", type=float,
                        help="epoch seconds when a `dvc repro -f evaluate` began, run after `make demo` in the same clone "
                             "(where DVC found stages up to date): recorded into --out as `forced_repro`")
    parser.add_argument("--trial", help="a clone where `make demo` ran: add it to --trials as a budget trial")
    parser.add_argument("--label", help="--trial: what the trial's commit changed in the default")
    parser.add_argument("--trials", default=TRIALS)
    args = parser.parse_args(argv)
    if args.trial:
        if not args.label:
            parser.error("--trial needs --label")
        entry = trial(args.trial, args.label)
        add_trial(entry, args.trials)
        print(f"[demo] trial {entry['commit'][:7]} ({args.label}): {entry['seconds']} s; {args.trials}")
        return entry
    if args.forced_started is not None:
        return record_forced_repro(args.out, args.forced_started)
    if args.started is None:
        parser.error("--started is required (or --trial, or --forced-started)")
    result = record(args.started, repro_started=args.repro_started)
    write_json(args.out, result)
    verdict = ("within" if result["within_budget"] else "OVER") + f" the {BUDGET_SECONDS // 60}-minute budget"
    if "repro_seconds" in result:
        verdict += (f"; `dvc repro` {format_minutes(result['repro_seconds'])}, "
                    + ("within" if result["repro_within_budget"] else "OVER") + " it")
    if not result["complete"]:
        verdict = (f"{result['timed_stages_run']} of {result['timed_stages']} timed stages ran: a partial run, "
                   "not the budget's figure")
    print(f"[demo] {format_minutes(result['seconds'])}, the install included ({verdict}); {args.out}")
    return result


if __name__ == "__main__":
    main()
