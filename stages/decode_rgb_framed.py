"""DVC stage `decode_rgb_framed` (research profile): RGB clips cut by the deployment framing, not the person box.

The pose-free student meets, at test time, clips framed with no keypoints (`crychic.rgb.decode`:
`research.framing`, `centre` or `full`). This stage writes, for every split, each sample's clip in
that framing: the same sampled frames as `data/rgb` (purpose "rgb" of the clip plan's seed), the
same `rgb.clip_len` and `rgb.size`, cut by `framing_box` of the video frame; with each clip its
`person_in_clip`, the person box (which the heatmaps cover) in the clip's [0, 1] coordinates
(u = j / S for pixel j), so the teacher's maps can be carried into the student's frame
(`crychic.training.data`, `crychic.models.attention.carry_to_frame`). Shards, rejects, resume
and metrics are `decode_rgb`'s (`stages.decode_rgb.run_decode_stage`).

Reads params: `PARAM_KEYS`. With `research.deployment_framing: false` (the default profile) it
decodes nothing: the out folder holds only `framing.json` saying so (and an empty rejects table),
in about a second (no Prefect, no video), so the default `dvc repro` pays nothing for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.core.manifest import write_rejects
from crychic.core.params import load_params, select
from crychic.rgb.shards import SHARD_GLOB
from crychic.core.stage_registry import params_of

# decode_rgb's keys (a test keeps them in step), then the research profile's.
PARAM_KEYS = params_of("decode_rgb_framed")  # crychic.core.stage_registry
MARKER = "framing.json"  # {"enabled": bool, "framing": str}: what the out folder holds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--out", default="data/rgb_framed")
    parser.add_argument("--metrics", default="metrics/decode_rgb_framed.json")
    parser.add_argument("--timing", help="seconds (default: timing/ beside --metrics)")
    args = parser.parse_args(argv)

    params = select(load_params(args.params), PARAM_KEYS)
    research = params["research"]
    framing, enabled = str(research["framing"]), bool(research["deployment_framing"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, {"enabled": enabled, "framing": framing})
    if enabled:
        from stages.decode_rgb import run_decode_stage  # Prefect: imported only when there is work

        run_decode_stage("decode_rgb_framed", params, args, framing=framing)
        return

    for stale in out.glob(SHARD_GLOB):
        stale.unlink()
    write_rejects([], out / "rejects.parquet")
    timing = args.timing or Path(args.metrics).parent / "timing" / Path(args.metrics).name
    write_json(args.metrics, {"enabled": False, "framing": framing, "samples": 0})
    write_json(timing, {"seconds": 0.0})
    print("decode_rgb_framed: research.deployment_framing is false: nothing decoded "
          f"({out / MARKER}); set it true for the sweep's deployment-framing arms")


if __name__ == "__main__":
    main()
