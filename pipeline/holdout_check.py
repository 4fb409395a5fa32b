"""Issue 23: does every claim the report calls supported keep its sign on a data draw nobody has used?

    python -m pipeline.holdout_check --draw N     # N: a draw no sweep experiment has used (refused otherwise)

A sweep's intervals are computed on the draws it ran, and the choices behind the method (the design,
the I3D network, the epochs) were read off those same draws' val splits. A draw that none of that saw
is the honest out-of-sample check: the whole pipeline, exactly as the sweep's `full` runs it (research
profile, `dvc exp run` of every stage from ingest on), is run once on draw N as the queued experiment
`<prefix>-holdout-d<N>`, and each supported claim's paired top-1 difference on that draw's test clips
is compared with the sign the report gave it.

Which claims: those of `metrics/ablations.json` `claims` that `pipeline.sweep_report` reads with a
direction (`CLAIM_STATEMENTS`) and calls supported (`verdict` of `draw_interval`), read from the table
*before* the run, and written to the result with the interval that made each one supported. One draw
cannot confirm an interval; a flipped sign on it is a warning that the interval was too narrow (few
draws, or a choice tuned to them). The held-out experiment stays out of the sweep's table
(`pipeline.ablations.HOLDOUT_VARIANT`), and the sweep refuses that draw once this file records it, so it never becomes one of the draws it checks.

Result: `metrics/holdout_check.json` (the draw, the experiment, the machine, and per claim the interval
it was supported by, the expected sign, the difference on the held-out draw and whether the sign held).

    python -m pipeline.holdout_check --draw N --variant framed_keypoints

checks a sweep variant's own claims instead (the report's D-arm block reads them: `framed_keypoints`'
student against `rgb_only` trained in the same framing, at the rate `pipeline.framed_rate_choice` chose
there): the held-out experiment `<prefix>-holdout-<variant>-d<N>` runs that variant's overrides (and the
chosen rate's) on draw N, written to `metrics/holdout_check_<variant>.json`. Draw N may be an earlier
held-out check's (no sweep experiment used it either, and DVC's run cache then reuses what the variant
shares with `full`), never a sweep's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from crychic.core.atomic_write import write_json
from pipeline import ablations, dvc_experiments
from pipeline.sweep_report import CLAIM_STATEMENTS, VERDICT_DRAWS, draw_interval, framed_claims, verdict


def supported_claims(table: dict) -> dict[str, dict]:
    """Claim -> {"direction", "interval", "interval_kind"} for every claim of the sweep's table that the
    report calls supported (the claim's direction, read from its interval over draws)."""
    out = {}
    for name, entry in (table.get("claims") or {}).items():
        direction = CLAIM_STATEMENTS.get(name, (None, 0))[1]
        interval, kind = draw_interval(entry)
        # under VERDICT_DRAWS the interval is one training run's spread over its clips: the report reads no verdict
        if direction and (entry.get("draws") or 0) >= VERDICT_DRAWS and verdict(interval, direction) == "supported":
            out[name] = {"direction": direction, "interval": interval, "interval_kind": kind,
                         "draws": entry.get("draws")}
    return out


# The claims the report's D-arm block reads inside a framed arm (the stage-2 and the pose-free student against
# `rgb_only` in the same framing, and the fused model against late fusion there); inside another variant, the
# headline claims it carries.
FRAMED_CLAIMS = ("student_guided - rgb_only", "crychic_posefree - rgb_only", "crychic_fused - late_fusion")


def variant_claims(table: dict, variant: str) -> dict[str, dict]:
    """The claims a check on `variant` reads: `full`'s are the table's `claims`; another variant's are its own
    (a D arm's against `rgb_only` at the rate val chose for the framing, as the report reads them)."""
    if variant == "full":
        return table.get("claims") or {}
    own = framed_claims(table).get(variant) or {}
    return {c: entry for c, entry in own.items() if c in FRAMED_CLAIMS} if variant in ablations.FRAMED else own


def held_out_variant(table: dict, variant: str) -> str:
    """The held-out experiment's variant: `full`'s is `HOLDOUT_VARIANT`; another's is registered as
    `holdout_<variant>`, its overrides (and for a D arm, `rgb_only` at the rate the table's rule chose)."""
    if variant == "full":
        return ablations.HOLDOUT_VARIANT
    from pipeline.framed_rate_choice import chosen_control

    items, name = list(ablations.VARIANTS[variant]), f"{ablations.HOLDOUT_VARIANT}_{variant}"
    control = chosen_control(table) if variant in ablations.FRAMED else None
    if control:  # the rate is in the name, so that a check at another rate never reuses this experiment
        items += [item for item in ablations.VARIANTS[control] if item.startswith("train.rgb_only.lr_scale=")]
        name += "_" + control.removeprefix("framed_")
    ablations.VARIANTS[name] = items
    return name


def used_draws(tables: list[dict]) -> set[int]:
    """Every data draw any experiment of these ablation tables ran on (of any variant or prefix)."""
    return {int(entry["draw"]) for table in tables for entry in (table.get("experiments") or {}).values()
            if "draw" in entry}


def difference(claim: str, correct: dict[str, np.ndarray]) -> float:
    """A claim "a - b"'s top-1 difference on one draw's test clips (`correct`: model -> per-clip right or wrong)."""
    a, b = claim.split(" - ")
    return float(correct[a].mean() - correct[b].mean())


def check(claims: dict[str, dict], correct: dict[str, np.ndarray]) -> dict[str, dict]:
    """Each supported claim with its difference on the held-out draw and whether it has the claimed sign (a
    zero difference keeps no sign)."""
    out = {}
    for name, claim in claims.items():
        value = difference(name, correct)
        out[name] = {**claim, "difference": round(value, 4), "kept_sign": bool(value * claim["direction"] > 0)}
    return out


def table_source(path: str) -> str:
    """Where the claims were read: the table's path in its git repository and that repository's commit
    (marked when the file differs from it), else the path as given."""
    where = Path(path).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True).stdout.strip()

    top = git("rev-parse", "--show-toplevel")
    if not top:
        return path
    relative = str(Path(path).resolve().relative_to(top))
    changed = " (with uncommitted changes)" if git("status", "--porcelain", "--", f":/{relative}") else ""
    return f"{relative} at commit {git('rev-parse', '--short', 'HEAD')}{changed}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draw", type=int, required=True, help="a data draw no sweep experiment has used")
    parser.add_argument("--table", default="metrics/ablations.json", help="the sweep's table whose claims are checked")
    parser.add_argument("--variant", default="full", help="whose claims: full's (the report's), or a sweep variant's "
                        "own (e.g. framed_keypoints)")
    parser.add_argument("--out", help="default: metrics/holdout_check.json, or metrics/holdout_check_<variant>.json")
    args = parser.parse_args(argv)
    if args.variant != "full" and args.variant not in ablations.VARIANTS:
        parser.error(f"--variant {args.variant!r}: not a sweep variant (pipeline.ablations.VARIANTS)")
    if args.out is None:
        args.out = "metrics/holdout_check.json" if args.variant == "full" else f"metrics/holdout_check_{args.variant}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    table = json.loads(Path(args.table).read_text())
    earlier = [json.loads(p.read_text()) for p in sorted(Path(args.table).parent.glob("ablations*.json"))]
    params = yaml.safe_load(Path("params.yaml").read_text())
    # `full`'s check needs a draw no check used; a variant's may share an earlier check's (no sweep saw it either)
    held_out = ablations.held_out_draws(Path(args.table).parent) if args.variant == "full" else {}
    if args.draw in used_draws([table, *earlier]) or args.draw == int(params["data"]["seed"]) or args.draw in held_out:
        sys.exit(f"holdout_check: draw {args.draw} has been used (by the default pipeline, a sweep experiment in "
                 f"{Path(args.table).parent}/ablations*.json or an earlier held-out check): choose another")
    of_variant = variant_claims(table, args.variant)
    claims, source = supported_claims({"claims": of_variant}), table_source(args.table)
    if not claims:
        sys.exit(f"holdout_check: {args.table} has no claim of {args.variant} the report calls supported: nothing to check")
    print(f"[holdout] checking {len(claims)} supported claims of {args.variant} on draw {args.draw}: "
          f"{', '.join(claims)}", flush=True)
    experiment_variant = held_out_variant(table, args.variant)
    name = ablations.experiment_name(experiment_variant, args.draw)
    finished = dvc_experiments.experiment_metrics()
    # Nor may this repository hold a sweep experiment on the draw (one not yet in a table: queued, running,
    # unrecorded); held-out experiments of other variants may share it.
    here = {n for n in {*finished, *dvc_experiments.queue_states()} if n != name
            and (parsed := ablations.parse_experiment_name(n)) and parsed[1] == args.draw
            and parsed[0] != ablations.HOLDOUT_VARIANT and not parsed[0].startswith(f"{ablations.HOLDOUT_VARIANT}_")}
    if here:
        sys.exit(f"holdout_check: draw {args.draw} has been used by this repository's experiments {sorted(here)}: "
                 "choose another")
    if name not in finished:
        state = ablations.run_experiments([experiment_variant], [args.draw], params)[name]
        if state != "Success":
            sys.exit(f"holdout_check: the experiment {name} ended {state}: see `dvc queue logs {name}`")
        finished = dvc_experiments.experiment_metrics()
    rev = finished[name]["rev"]
    correct, _, _ = ablations.per_clip_correct(rev)
    results = check(claims, correct)
    # The claims the report does not call supported, on the same draw: read, not checked.
    others = {claim: round(difference(claim, correct), 4) for claim in of_variant
              if claim not in claims and set(claim.split(" - ")) <= set(correct)}
    write_json(args.out, {
        "draw": args.draw, "variant": args.variant, "experiment": name, "rev": rev, "machine": ablations.experiment_machine(rev),
        "table": source, "clips": len(next(iter(correct.values()))),
        "rule": "Every claim the report calls supported (its interval over the sweep's draws on the claimed side of "
                "zero) is checked on one draw no sweep experiment used: the sign of its paired top-1 difference on "
                "that draw's test clips must be the claimed one.",
        "claims": results, "all_kept": all(r["kept_sign"] for r in results.values()), "not_checked": others,
        "val_curves": ablations.val_curves(rev)})  # the RGB networks' start, as the report's late-start table reads it
    for claim, result in results.items():
        print(f"[holdout] {claim}: {result['difference'] * 100:+.1f} points on draw {args.draw} "
              f"({'sign kept' if result['kept_sign'] else 'SIGN NOT KEPT'}; supported by {result['interval_kind']} "
              f"[{result['interval'][0] * 100:+.1f}, {result['interval'][1] * 100:+.1f}])", flush=True)
    return 0 if all(r["kept_sign"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
