"""The real thing: `dvc repro` of the default pipeline in a fresh git repository.

The working tree (tracked and untracked, not ignored) is copied into a temporary directory and
committed there, as a user's clone would be (tests/pipeline_clone.py); DVC runs the stages with this
environment's Python. Stages run by hand on the pipeline's data (kill and resume, the repeat in
perturbed processes) are in tests/test_stages_by_hand.py, which needs no trained model.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from conftest import free_port, processes_in_group
from pipeline_clone import BIN, ENV, PREPROCESSING, make_clone, run, set_param, stages_run
from crychic.heatmaps.shards import HeatmapShards
from crychic.rgb.shards import RgbClips

pytestmark = pytest.mark.slow  # real DVC, MLflow and torchrun in a git clone


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_clone(tmp_path_factory.mktemp("clone") / "crychic")


@pytest.fixture(scope="module")
def first_repro(repo) -> str:
    return run(["dvc", "repro"], repo)


def test_repro_runs_every_stage(repo, first_repro):
    assert set(PREPROCESSING) <= stages_run(first_repro)
    manifest = pq.read_table(repo / "data/ingest/manifest.parquet")
    assert manifest.num_rows == 192
    assert list((repo / "data/heatmaps").glob("shard-*.h5")) and list((repo / "data/rgb").glob("shard-*.arrow"))
    assert "samples" in run(["dvc", "metrics", "show"], repo)


def test_the_default_leaves_the_research_arms_out(repo, first_repro):
    """The default `dvc repro` (here, before any experiment changes the workspace): `embed_class_text` and
    `train_text` wrote their markers and `evaluate` scored every other model, with no crychic_text row,
    claim, cost or picture."""
    from crychic.evaluation.methods import COMPARISONS, METHODS, TEXT_ANCHOR_ROWS

    assert {"embed_class_text", "train_text", "evaluate"} <= stages_run(first_repro)
    assert json.loads((repo / "metrics/embed_class_text.json").read_text()) == {"enabled": False}
    assert json.loads((repo / "metrics/train_text.json").read_text()) == {"enabled": False, "epochs": 0}
    assert torch.load(repo / "models/text.pt", weights_only=True)["enabled"] is False
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert list(metrics["models"]) == [name for name in METHODS if name not in TEXT_ANCHOR_ROWS]
    assert set(metrics["comparisons"]) == {f"{a} - {b}" for a, b in COMPARISONS if a not in TEXT_ANCHOR_ROWS}
    assert not set(TEXT_ANCHOR_ROWS) & (set(metrics["cost"]) | set(metrics["protocol"]["checkpoints"]))
    assert not list((repo / "plots/evaluate").glob("confusion_crychic_text*.png"))


def test_second_repro_is_up_to_date(repo, first_repro):
    output = run(["dvc", "repro"], repo)
    assert stages_run(output) == set()
    assert "Data and pipelines are up to date" in output


def test_execution_settings_rerun_nothing(repo, first_repro):
    """Workers, Prefect task size and a Dask address change how a stage runs, never its result:
    they live outside params.yaml, so scaling out never invalidates a cached stage."""
    (repo / "execution.yaml").write_text("keypoint_workers: 1\nkeypoint_batch_size: 3\nrgb_workers: 1\ntrain_workers: 0\n")
    try:
        output = run(["dvc", "repro"], repo, env={**ENV, "CRYCHIC_RGB_BATCH_SIZE": "2"})
    finally:
        (repo / "execution.yaml").unlink()
    assert stages_run(output) == set() and "Data and pipelines are up to date" in output


# ------------------------------------------------------------------ training stages (issue: models and training)

TRAINING = ["train_teacher", "train_student", "train_joint"]


def test_training_stages_ran_and_recorded_mlflow_runs(repo, first_repro):
    assert set(TRAINING) <= stages_run(first_repro)
    for stage in ("teacher", "student", "joint"):
        metrics = json.loads((repo / f"metrics/train_{stage}.json").read_text())
        assert 0.0 <= metrics["val_top1"] <= 1.0 and metrics["best_epoch"] == 0
        timing = json.loads((repo / f"metrics/timing/train_{stage}.json").read_text())
        assert len(timing["mlflow_run_id"]) == 32 and timing["machine"]["cores"] >= 1  # where the figure was made
        assert (repo / f"models/{stage}.pt").is_file()
    assert (repo / "mlflow.db").is_file()


def test_each_training_stage_logged_its_network_loadable_without_unpickling(repo, first_repro):
    """The logged model (weights and plain data: crychic.models.logged) is the checkpoint's network."""
    import mlflow

    from crychic.models.logged import load_logged_model
    from crychic.reporting.tracking import tracking_uri
    from crychic.training.stage import MODEL_NAMES

    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri(repo))
    try:
        for stage in ("teacher", "student", "joint"):
            run_id = json.loads((repo / f"metrics/timing/train_{stage}.json").read_text())["mlflow_run_id"]
            logged = load_logged_model(f"runs:/{run_id}/{MODEL_NAMES[stage]}")
            saved = torch.load(repo / f"models/{stage}.pt", map_location="cpu", weights_only=True)
            assert (logged.stage, logged.model_name) == (stage, MODEL_NAMES[stage])
            assert logged.label_names == saved["label_names"]
            weights = logged.module.state_dict()  # the teacher's checkpoint keeps the teacher's weights only
            assert all(torch.equal(weights[key], value) for key, value in saved["state_dict"].items()), stage
    finally:
        mlflow.set_tracking_uri(previous_uri)


def test_push_then_pull_in_a_fresh_clone_needs_no_training(repo, first_repro):
    """The team loop: commit and `dvc push` to the project's default remote (a folder beside the
    clone), then a fresh clone of that commit beside it pulls, is up to date, and reruns nothing. Run on the
    baseline, before the experiments below: run after the queued experiment, it once found the workspace's
    stage-2/3 networks missing from the cache on CI's machine (not reproduced on the Xeon)."""
    assert "up to date" in run(["dvc", "status"], repo)  # the workspace is one consistent state
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=crychic test", "-c", "user.email=test@crychic.invalid", "commit", "-q",
         "--allow-empty", "-m", "pipeline outputs"], repo)
    run(["dvc", "push"], repo)
    assert (repo.parent / "crychic-dvc-store" / "files" / "md5").is_dir()  # ../../crychic-dvc-store from .dvc/
    other = repo.parent / "crychic-pulled"
    run(["git", "clone", "-q", str(repo), str(other)], repo.parent)
    assert not (other / "models" / "joint.pt").exists()
    run(["dvc", "pull"], other)
    assert "up to date" in run(["dvc", "status"], other)
    assert stages_run(run(["dvc", "repro"], other)) == set()
    for model in sorted((repo / "models").glob("*.pt")):
        assert (other / "models" / model.name).read_bytes() == model.read_bytes(), model.name


@pytest.fixture(scope="module")
def contrastive_experiment(repo, first_repro) -> str:
    # The baseline, committed as a user would before experimenting (empty when the push test committed it)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q", "--allow-empty",
         "-m", "baseline"], repo)
    # The text anchor's research arm on too, so that its stages embed and train for real here
    return run(["dvc", "exp", "run", "-n", "contrastive-half", "-S", "loss.contrastive_weight=0.5",
                "-S", "research.text_anchor=true"], repo)


def test_exp_run_reruns_only_the_stages_that_read_the_key(repo, contrastive_experiment):
    # the contrastive weight: the guided stages and evaluate; the text arm: its two stages and evaluate
    assert stages_run(contrastive_experiment) == {"train_student", "train_joint", "embed_class_text", "train_text",
                                                  "evaluate"}
    shown = run(["dvc", "exp", "show", "--no-pager", "--csv"], repo)
    table = list(csv.reader(io.StringIO(shown)))  # quoted cells may hold commas (the text encoder's name)
    header = table[0]
    assert "loss.contrastive_weight" in header and "val_top1" in " ".join(header)
    rows = [dict(zip(header, line)) for line in table[1:]]
    weights = {r["loss.contrastive_weight"] for r in rows}
    assert {"0.1", "0.5"} <= weights


# ------------------------------------------------------------------ evaluation, baselines, ablations

def test_evaluate_reports_every_model_and_draws_its_pictures(repo, first_repro, contrastive_experiment):
    """The workspace holds the contrastive experiment's run, which trains the text anchor's research arm too."""
    from crychic.evaluation.methods import COMPARISONS, METHODS as MODEL_DESCRIPTIONS

    assert {"train_rgb_only", "train_gcn", "train_msg3d", "train_sta_lstm", "train_i3d", "train_text",
            "embed_class_text", "train_colour_cue", "evaluate"} <= stages_run(first_repro)
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    timing = json.loads((repo / "metrics/timing/evaluate.json").read_text())
    assert metrics["split"] == "test" and metrics["samples"] == 48
    assert list(metrics["models"]) == list(MODEL_DESCRIPTIONS)
    for name, report in metrics["models"].items():
        assert 0.0 <= report["top1"] <= report["top5"] <= 1.0, name
        low, high = report["top1_ci95"]
        assert 0.0 <= low <= report["top1"] <= high <= 1.0 and high - low > 0.02, name
        assert set(report["group_top1"]) == {"hand_to_mouth", "at_desk", "motion"}
        assert len(report["per_class"]) == 12
        if name != "colour_cue":
            assert metrics["cost"][name]["parameters"] > 0 and metrics["cost"][name]["gflops_per_clip"] > 0
            assert timing["efficiency"][name]["throughput_clips_per_s"] > 0
    assert metrics["cost"]["crychic_fused"]["gflops_per_clip"] > metrics["cost"]["teacher"]["gflops_per_clip"]
    assert set(metrics["comparisons"]) == {f"{a} - {b}" for a, b in COMPARISONS}
    # Every choice was made on val, with the figures that made it.
    protocol = metrics["protocol"]
    assert protocol["split"] == "val" and protocol["samples"] == 48
    for choice in ("crychic_fused", "late_fusion", "crychic_posefree_nokp"):
        assert protocol[choice]["chosen"] in protocol[choice]["candidates_val_top1"]
    assert len(protocol["crychic_fused"]["candidates_val_top1"]) == 6
    assert protocol["checkpoints"]["rgb_only"]["of_epochs"] == 1  # train.rgb_only.epochs
    assert protocol["colour_cue"]["chosen_c"] in (0.1, 1.0, 10.0)
    alignment = metrics["alignment"]
    assert 0.0 <= alignment["cka"] <= 1.0 and alignment["projections_trained"] is True
    assert alignment["r1_chance"] == round(1 / 48, 4)
    end_to_end = metrics["end_to_end"]
    assert end_to_end["clips"] == 2 and end_to_end["framing"] == protocol["crychic_posefree_nokp"]["chosen"]
    assert {end_to_end["posefree"]["top1"], end_to_end["full"]["top1"]} <= {0.0, 0.5, 1.0}
    speed = timing["end_to_end"]
    assert speed["posefree"]["clips_per_second"] > speed["full"]["clips_per_second"]  # MediaPipe costs
    # pose on the 16 sampled frames of 48, against every frame: the same two clips, one run
    assert speed["full"]["clips_per_second"] > speed["full_every_frame"]["clips_per_second"]
    assert speed["sampled_pose_speedup"] > 1 and "full_every_frame" in end_to_end
    assert speed["full_one_thread"]["same_predictions_as_full"]  # the pose threads change no keypoint
    assert speed["full_one_thread"]["pose_threads"] == 1 and speed["full"]["pose_threads"] >= 1
    assert "pose" in speed["full"]["seconds_per_clip"]
    assert len(timing["mlflow_run_id"]) == 32 and "mlflow_run_id" not in metrics
    focus = metrics["teacher_wrist_focus"]  # where the teacher's attention points, per stage and class group
    assert list(focus["stages"]) == ["stage1", "stage2", "stage3"] and focus["split"] == "test"
    for group in ("all", "hand_to_mouth", "at_desk", "motion"):
        cell = focus["stages"]["stage1"][group]
        assert 0.0 < cell["uniform"] < 0.5 and 0.0 <= cell["share"] <= 1.0 and cell["clips"] > 0
    assert metrics["models"]["crychic_text_zeroshot"]["top1"] >= 0.0  # the nearest class sentence, no classifier
    figures = repo / "plots/evaluate"
    assert {f"confusion_{name}.png" for name in MODEL_DESCRIPTIONS} <= {p.name for p in figures.glob("*.png")}
    assert (figures / "teacher_wrist_focus.png").is_file()
    assert len(list(figures.glob("attention_*.png"))) == 1  # evaluate.attention_clips
    predictions = json.loads((repo / "plots/evaluate_predictions.json").read_text())
    assert len(predictions) == 48 and set(MODEL_DESCRIPTIONS) <= set(predictions[0])
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo))
    assert "metrics/evaluate.json" in json.dumps(shown) and "crychic_fused" in json.dumps(shown)


def test_crychic_predict_reproduces_evaluates_end_to_end_predictions(repo, first_repro, tmp_path):
    """`crychic predict` (the installed console script) on evaluate's end-to-end videos and a text
    file named .mp4: one JSON line each, the videos' top-5 for both modes, the same top classes as
    evaluate's end-to-end paths (one code path), an error line for the text file, an overlay per video."""
    end_to_end = json.loads((repo / "metrics/evaluate.json").read_text())["end_to_end"]
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video\n")
    out, overlays = tmp_path / "out.jsonl", tmp_path / "overlays"
    output = run([str(BIN / "crychic"), "predict", "--mode", "both", "--json", str(out), "--overlay", str(overlays),
                  *end_to_end["videos"], str(bogus)], repo)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["path"] for line in lines] == [*end_to_end["videos"], str(bogus)]
    for line, posefree, full in zip(lines, end_to_end["predictions"]["posefree"], end_to_end["predictions"]["full"]):
        assert len(line["predictions"]["pose_free"]) == 5 and line["predictions"]["pose_free"][0]["label"] == posefree
        assert "pose" not in line["seconds"]["pose_free"]
        if full is None:  # evaluate's full path found no person here: predict says so on the video's line
            assert "full: " in line["error"] and "no person found" in line["error"]
            continue
        assert line["error"] is None and len(line["predictions"]["full"]) == 5
        assert line["predictions"]["full"][0]["label"] == full and "pose" in line["seconds"]["full"]
    assert "cannot be decoded" in lines[-1]["error"] and "notes.mp4" in lines[-1]["error"]
    assert f"{len(end_to_end['videos'])} of {len(lines)} videos classified" in output
    assert sorted(p.name for p in overlays.glob("*.png")) == sorted(Path(v).stem + ".png" for v in end_to_end["videos"])
    done = subprocess.run([str(BIN / "crychic"), "predict", str(bogus)], cwd=repo, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1 and "0 of 1 videos classified" in done.stdout  # nothing classified: non-zero


def test_results_table_command_renders_the_metrics_into_the_report_and_the_readme(repo, first_repro):
    readme, report = repo / "README.md", repo / "docs" / "REPORT.md"
    originals = {path: path.read_text() for path in (readme, report)}
    try:
        run([sys.executable, "-m", "pipeline.results_table"], repo)
        fused = json.loads((repo / "metrics/evaluate.json").read_text())["models"]["crychic_fused"]["top1"]
        text = report.read_text()
        results = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
        row = next(line for line in results.splitlines() if line.startswith("| `crychic_fused`"))
        assert f"| {100 * fused:.1f} |" in row
        protocol = text.split("<!-- protocol:start -->")[1].split("<!-- protocol:end -->")[0]
        assert "| `crychic_fused`: fusion rule" in protocol
        guide = readme.read_text()
        assert "<!-- results:start -->" not in guide  # the user guide holds the headline only
        headline = guide.split("<!-- headline:start -->")[1].split("<!-- headline:end -->")[0]
        row = next(line for line in headline.splitlines() if line.startswith("| `crychic_fused`"))
        assert f"| {100 * fused:.1f} |" in row
        assert any(line.startswith("| `late_fusion`") for line in headline.splitlines())
        run([sys.executable, "-m", "pipeline.results_table", "--check"], repo)
    finally:
        for path, original in originals.items():
            path.write_text(original)


def test_mlflow_server_lists_both_experiments(repo, contrastive_experiment):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "pipeline.mlflow_ui", "--port", str(port)], cwd=repo, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        runs = _search_runs(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert processes_in_group(server.pid) == []  # nothing left behind
    student_runs = [r for r in runs if _tags(r).get("stage") == "train_student"]
    weights = {_params(r)["loss.contrastive_weight"] for r in student_runs}
    assert {"0.1", "0.5"} <= weights
    experiments = {_tags(r)["dvc_experiment"] for r in student_runs}
    assert "contrastive-half" in experiments and len(experiments) >= 2
    # Each student run lists its inputs, digests from dvc.lock (the preprocessing never re-ran here).
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    heatmaps_md5 = next(out["md5"] for out in lock["render_heatmaps"]["outs"] if out["path"] == "data/heatmaps")
    for r in student_runs:
        datasets = {i["dataset"]["name"]: i["dataset"]["digest"] for i in r["inputs"]["dataset_inputs"]}
        assert set(datasets) == {"data/heatmaps", "data/rgb", "models/teacher.pt", "data/ingest"}
        assert datasets["data/heatmaps"] == heatmaps_md5
    for r in runs:
        metrics = {m["key"] for m in r["data"].get("metrics", [])}
        if _tags(r)["stage"] == "evaluate":
            assert {"models.crychic_fused.top1", "alignment.cka", "cost.teacher.gflops_per_clip",
                    "timing.efficiency.teacher.throughput_clips_per_s"} <= metrics
        else:
            assert "val_top1" in metrics
        assert len(_tags(r)["git_commit"]) == 40
    assert {"evaluate", "train_rgb_only", "train_gcn"} <= {_tags(r)["stage"] for r in runs}


def _search_runs(port: int) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/experiments/get-by-name?experiment_name=crychic", timeout=5) as r:
                experiment_id = json.load(r)["experiment"]["experiment_id"]
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(1)
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode()
    request = urllib.request.Request(f"{url}/runs/search", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)["runs"]


def _tags(run_json: dict) -> dict:
    return {t["key"]: t["value"] for t in run_json["data"].get("tags", [])}


def _params(run_json: dict) -> dict:
    return {p["key"]: p["value"] for p in run_json["data"].get("params", [])}


def test_ablation_command_runs_a_variant_as_a_queued_experiment(repo, contrastive_experiment):
    # The committed table records the project's own sweep (which a sweep resumes from): start afresh.
    (repo / "metrics/ablations.json").unlink(missing_ok=True)
    # The command, not the training, is tested: `full` on draw 0 in the default profile is the
    # baseline's training params, so DVC's run cache restores every network and only evaluate (its
    # profile settings changed) runs in the queued experiment.
    output = run([sys.executable, "-m", "pipeline.ablations", "--variants", "full", "--draws", "0",
                  "--profile", "default"], repo)
    assert "1/1 done" in output
    ablations = json.loads((repo / "metrics/ablations.json").read_text())
    table = ablations["variants"]
    assert ablations["runs"][-1]["experiments"] == 1 and ablations["runs"][-1]["minutes"] > 0
    assert table["full"]["draws"] == [0]
    fused = table["full"]["fused"]  # read from the experiment's committed per-clip predictions
    assert 0.0 <= fused["ci95"][0] <= fused["mean"] <= fused["ci95"][1] <= 1.0
    from pipeline.ablations import experiment_name

    assert experiment_name("full", 0, "default") in run(["dvc", "exp", "show", "--no-pager", "--csv"], repo)


def test_torchrun_two_cpu_processes_train_a_stage(repo, first_repro, tmp_path):
    out = tmp_path / "ddp"
    output = run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "stages.train_student",
                  "--no-mlflow", "--out", str(out / "student.pt"), "--metrics", str(out / "metrics.json"),
                  "--plots", str(out / "plots.json"), "--timing", str(out / "timing.json")], repo)
    checkpoint = torch.load(out / "student.pt", map_location="cpu", weights_only=True)
    assert checkpoint["stage"] == "student" and any(k.startswith("student.") for k in checkpoint["state_dict"])
    assert json.loads((out / "metrics.json").read_text())["epochs"] >= 1
    assert output.count("[student] epoch 1/") == 1  # only rank 0 reports


# ------------------------------------------------------------------ preprocessing params (last: they edit the workspace)

def stale_stages(repo: Path) -> set[str]:
    """The stages `dvc status` says a `dvc repro` would run (their deps or params changed)."""
    return set(json.loads(run(["dvc", "status", "--json"], repo)))


def test_rgb_size_reruns_only_decode_rgb(repo, first_repro):
    """A preprocessing param reruns its own stage and leaves the others' caches alone; downstream,
    `dvc status` names exactly the stages that read its output (none of them is retrained here)."""
    set_param(repo, "rgb.size", 64)
    assert stages_run(run(["dvc", "repro", "decode_rgb"], repo)) == {"decode_rgb"}  # the stage and its upstream
    clips = RgbClips(repo / "data/rgb")
    assert clips.get(clips.ids()[0])["frames"].shape[1:] == (64, 64, 3)
    stale = stale_stages(repo)
    assert {"train_student", "train_rgb_only", "evaluate"} <= stale  # they read data/rgb
    assert not stale & {*PREPROCESSING, "train_teacher", "train_gcn"}


def test_heatmap_sigma_does_not_rerun_keypoints(repo, first_repro):
    set_param(repo, "heatmap.sigma", 0.8)
    assert stages_run(run(["dvc", "repro", "render_heatmaps"], repo)) == {"render_heatmaps"}
    assert HeatmapShards(repo / "data/heatmaps").attrs["sigma"] == pytest.approx(0.8)
    stale = stale_stages(repo)
    assert {"train_teacher", "train_student", "evaluate"} <= stale  # they read data/heatmaps
    assert not stale & {"ingest", "extract_keypoints", "sample_clips", "render_heatmaps", "train_gcn"}
