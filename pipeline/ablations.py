"""The ablation sweep: each innovation switched off, several seeds, as queued DVC experiments.

    python -m pipeline.ablations                 # every variant x seeds 0 1 2, then the table
    python -m pipeline.ablations --seeds 0 1     # fewer seeds
    python -m pipeline.ablations --table-only    # re-read finished experiments, rewrite the table

Experiments that already finished (same name, any baseline commit: `dvc exp show -A`) are not queued again, so a
sweep can be extended seed by seed; `--rerun` queues them anyway.

Each (variant, seed) is one `dvc exp run --queue -n abl-<variant>-s<seed> -S ...`; `dvc queue start`
runs them one at a time (2 cores hold one training at a time), and DVC's run cache skips every
stage whose params did not change (the no-contrastive variant retrains the student and the joint
stage, never the teacher). So each variant is cached, shows in `dvc exp show`, and has its MLflow
runs tagged with the experiment name. The table (mean and spread over seeds) goes to
`metrics/ablations.json` and, with `python -m pipeline.results_table`, into the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from crychic.atomic_write import write_json

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no_attention_transfer": ["model.attention_guidance=false", "loss.attention_weight=0.0"],
    "no_contrastive": ["loss.contrastive_weight=0.0"],
    "no_multiscale": ["model.multiscale_temporal=false"],
    # One joint stage from random weights, given the epochs that the student gets in the three
    # stages (student + joint), so it is not starved of training; a joint epoch costs about a
    # student-stage epoch plus the teacher's backward pass, so this is about the three stages' compute.
    "single_stage": ["train.joint.from_scratch=true", "train.joint.epochs={single_stage_epochs}"],
}
COLUMNS = {  # table column -> path in metrics/evaluate.json
    "fused_top1": ("models", "crychic_fused", "top1"),
    "posefree_top1": ("models", "crychic_posefree", "top1"),
    "student_guided_top1": ("models", "student_guided", "top1"),  # stage 2 only, against rgb_only
    "teacher_top1": ("models", "teacher", "top1"),
    "rgb_only_top1": ("models", "rgb_only", "top1"),
    "alignment_gap": ("alignment", "gap"),
    "r1_student_to_teacher": ("alignment", "r1_student_to_teacher"),
}
QUEUE_PREFIX = "abl"


def experiment_name(variant: str, seed: int) -> str:
    return f"{QUEUE_PREFIX}-{variant.replace('_', '-')}-s{seed}"


def overrides(variant: str, seed: int, params: dict) -> list[str]:
    joint_epochs = sum(int(params["train"][s]["epochs"]) for s in ("student", "joint"))
    values = [item.format(single_stage_epochs=joint_epochs) for item in VARIANTS[variant]]
    # The sweep compares accuracy and alignment; the end-to-end timing (MediaPipe on videos) is
    # measured once, by the default pipeline.
    return [f"seed={seed}", *values, "evaluate.end_to_end_clips=0"]


def _dvc() -> str:
    return shutil.which("dvc", path=os.path.dirname(sys.executable)) or "dvc"


def queue(variants: list[str], seeds: list[int], params: dict, skip: set[str] = frozenset()) -> list[str]:
    names = []
    for variant in variants:
        for seed in seeds:
            name = experiment_name(variant, seed)
            if name in skip:
                continue
            command = [_dvc(), "exp", "run", "--queue", "-n", name]
            for item in overrides(variant, seed, params):
                command += ["-S", item]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            names.append(name)
    return names


def queue_states() -> dict[str, str]:
    """Experiment name -> DVC queue state (Queued, Running, Success, Failed)."""
    out = subprocess.run([_dvc(), "queue", "status"], check=True, capture_output=True, text=True).stdout
    states = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1].startswith(QUEUE_PREFIX + "-"):
            states[fields[1]] = fields[-1] if fields[-1] in {"Queued", "Running", "Success", "Failed"} else fields[2]
    return states


def wait(names: list[str], poll_seconds: float = 15.0) -> dict[str, str]:
    """Block until every named experiment has finished, printing progress with counts and rate."""
    started, last = time.perf_counter(), None
    while True:
        states = queue_states()
        done = [n for n in names if states.get(n) in {"Success", "Failed"}]
        running = [n for n in names if states.get(n) == "Running"]
        elapsed = time.perf_counter() - started
        line = (f"[ablations] {len(done)}/{len(names)} done, running: {', '.join(running) or '-'}, "
                f"{elapsed / 60:.1f} min" + (f", {elapsed / len(done) / 60:.1f} min per experiment" if done else ""))
        if line != last:
            print(line, flush=True)
            last = line
        if len(done) == len(names):
            return {n: states[n] for n in names}
        if not running and not any(states.get(n) == "Queued" for n in names):
            missing = [n for n in names if n not in states]
            raise RuntimeError(f"queue stopped with experiments neither finished nor queued: {missing}")
        time.sleep(poll_seconds)


def experiment_metrics() -> dict[str, dict]:
    """Experiment name -> its metrics/evaluate.json, for every experiment `dvc exp show` lists."""
    result = subprocess.run([_dvc(), "exp", "show", "--all-commits", "--json", "--no-pager"], check=True, capture_output=True,
                            text=True)
    found = {}
    for baseline in json.loads(result.stdout):
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                name = rev.get("name") or experiment.get("name")
                data = ((rev.get("data") or {}).get("metrics") or {}).get("metrics/evaluate.json") or {}
                if name and data.get("data"):
                    found[name] = data["data"]
    return found


def _lookup(metrics: dict, path: tuple[str, ...]):
    node = metrics
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def summarise(results: dict[str, dict[int, dict]]) -> dict:
    """variant -> {seeds, column: {mean, std, values}} from each seed's evaluate metrics."""
    table = {}
    for variant, by_seed in results.items():
        row = {"seeds": sorted(by_seed)}
        for column, path in COLUMNS.items():
            values = [float(_lookup(m, path)) for m in by_seed.values() if _lookup(m, path) is not None]
            if values:
                row[column] = {"mean": round(float(np.mean(values)), 4),
                               "std": round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 4),
                               "values": [round(v, 4) for v in values]}
        table[variant] = row
    return table


def previous_runs(path: str) -> list[dict]:
    """The invocations recorded in an earlier table: experiments queued and wall minutes each."""
    path = Path(path)
    return list(json.loads(path.read_text()).get("runs", [])) if path.is_file() else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/ablations.json")
    parser.add_argument("--table-only", action="store_true", help="do not run anything; collect finished experiments")
    parser.add_argument("--rerun", action="store_true", help="queue experiments that already finished too")
    args = parser.parse_args(argv)

    from crychic.params import load_params

    params = load_params(args.params)
    started = time.perf_counter()
    finished = experiment_metrics()
    names: list[str] = []
    if not args.table_only:
        names = queue(args.variants, args.seeds, params, skip=set() if args.rerun else set(finished))
        print(f"[ablations] queued {len(names)} experiments ({len(finished)} already finished); dvc queue start",
              flush=True)
        if names:
            subprocess.run([_dvc(), "queue", "start", "-j", "1"], check=True, stdout=subprocess.DEVNULL)
            states = wait(names)
            failed = [n for n, s in states.items() if s != "Success"]
            if failed:
                print(f"[ablations] failed: {failed} (see `dvc queue logs <name>`)", flush=True)
        finished = experiment_metrics()
    results: dict[str, dict[int, dict]] = {}
    for variant in args.variants:
        for seed in args.seeds:
            if experiment_name(variant, seed) in finished:
                results.setdefault(variant, {})[seed] = finished[experiment_name(variant, seed)]
    table = summarise(results)
    # A sweep grows seed by seed, so its cost is the sum of its invocations: keep each one's time.
    runs = previous_runs(args.out)
    if not args.table_only and names:
        runs.append({"experiments": len(names), "minutes": round((time.perf_counter() - started) / 60, 1)})
    write_json(args.out, {"variants": table, "runs": runs})
    for variant, row in table.items():
        cells = "  ".join(f"{c} {row[c]['mean']:.3f}±{row[c]['std']:.3f}" for c in COLUMNS if c in row)
        print(f"{variant:22s} seeds {row['seeds']}  {cells}")


if __name__ == "__main__":
    main()
