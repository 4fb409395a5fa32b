"""The NTU-60 X-Sub projection of benchmarks/bench_ntu_shapes.py (`project`), on made-up measurements:
pure arithmetic, no model, no MediaPipe, no files. It is what turns a 2-core benchmark into wall
times and GPU-hours at 1 to 64 GPUs, so its scaling and its bottleneck names are checked here."""

from __future__ import annotations

import copy
import importlib.util
import json
import math

import pytest

from conftest import PROJECT_ROOT


def _load_benchmark():
    """benchmarks/ is not a package; importing the module loads no torch (its measurements import lazily)."""
    path = PROJECT_ROOT / "benchmarks" / "bench_ntu_shapes.py"
    spec = importlib.util.spec_from_file_location("bench_ntu_shapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()
EPOCHS = {"teacher": 24, "student": 24, "joint": 12}
TRAINING = ("train_teacher", "train_student", "train_joint")


def one_shard_per_256(samples: int, workers: int) -> int:
    return 256


@pytest.fixture
def measured() -> dict:
    """Round figures of the kind the benchmark measures (not real ones)."""
    return {
        "extraction_s_per_video": 2.0,
        "video_bytes_per_frame": 10_000.0,
        "parallel_efficiency": 0.8,
        "render_s_per_sample": 0.0005,
        "decode_s_per_sample": 0.3,
        "loader_samples_per_s_per_core": {"heatmap": 100.0, "heatmap+rgb": 40.0},
        "bytes_per_sample": {"heatmap": 200_000.0, "rgb": 600_000.0},
        "flops_per_clip": {"teacher": {"forward": 40e9, "backward": 80e9},
                           "student": {"forward": 60e9, "backward": 120e9}},
    }


def assumptions(**changes) -> dict:
    """The defaults with some values replaced (sources kept)."""
    values = bench.default_assumptions(EPOCHS, parallel_efficiency=0.8)
    for name, value in changes.items():
        values[name] = {**values[name], "value": value}
    return values


def plentiful(**changes) -> dict:
    """A loader and a storage far faster than any GPU: training is GPU-bound."""
    return assumptions(storage_gb_per_s=1e9, **changes)


def fast_loader(measured: dict) -> dict:
    measured = copy.deepcopy(measured)
    measured["loader_samples_per_s_per_core"] = {"heatmap": 1e9, "heatmap+rgb": 1e9}
    return measured


def sizes_by_gpus(projection: dict) -> dict[int, dict]:
    return {size["gpus"]: size for size in projection["sizes"]}


def test_doubling_gpus_halves_gpu_bound_training(measured):
    projection = bench.project(fast_loader(measured), plentiful(gpu_counts=[8, 16]), shard_size=one_shard_per_256)
    eight, sixteen = sizes_by_gpus(projection)[8], sizes_by_gpus(projection)[16]
    for stage in TRAINING:
        assert eight["stages"][stage]["bottleneck"] == sixteen["stages"][stage]["bottleneck"] == "gpu"
        assert sixteen["stages"][stage]["seconds"] == pytest.approx(eight["stages"][stage]["seconds"] / 2)


def test_gpu_time_is_the_flops_at_the_assumed_utilisation(measured):
    values = plentiful(gpu_counts=[1])
    size = bench.project(fast_loader(measured), values, shard_size=one_shard_per_256)["sizes"][0]
    stage = size["stages"]["train_teacher"]
    rate = 312e12 * 0.30  # A100 dense FP16 at 30 %
    val = round(40_320 * 0.2)
    expected = 24 * ((40_320 - val) * 120e9 + val * 40e9) / rate  # teacher forward + backward; val forward only
    assert stage["seconds"] == pytest.approx(expected)
    assert stage["gpu_clips_per_s"] == pytest.approx(rate / 120e9)


def test_stage_two_charges_the_frozen_teacher_forward_only(measured):
    train, val = bench.stage_flops_per_clip(measured["flops_per_clip"], "train_student")
    assert train == pytest.approx(60e9 + 120e9 + 40e9) and val == pytest.approx(60e9)
    train, val = bench.stage_flops_per_clip(measured["flops_per_clip"], "train_joint")
    assert train == pytest.approx(300e9) and val == pytest.approx(100e9)


def test_a_slow_loader_is_named_the_bottleneck(measured):
    measured["loader_samples_per_s_per_core"] = {"heatmap": 0.5, "heatmap+rgb": 0.5}
    projection = bench.project(measured, plentiful(), shard_size=one_shard_per_256)
    for size in projection["sizes"]:
        for stage in (*TRAINING, "evaluate"):
            assert size["stages"][stage]["bottleneck"] == "loader"
        assert size["bottleneck"].split(": ")[1] == "loader"
    one = sizes_by_gpus(projection)[1]["stages"]["train_teacher"]
    assert one["loader_clips_per_s"] == pytest.approx(0.5 * 8)  # per core x cores per GPU


def test_more_cores_per_gpu_feed_the_loader_faster(measured):
    measured["loader_samples_per_s_per_core"] = {"heatmap": 0.5, "heatmap+rgb": 0.5}
    slow = bench.project(measured, plentiful(cores_per_gpu=8), shard_size=one_shard_per_256)["sizes"][0]
    fast = bench.project(measured, plentiful(cores_per_gpu=16), shard_size=one_shard_per_256)["sizes"][0]
    assert fast["stages"]["train_joint"]["seconds"] == pytest.approx(slow["stages"]["train_joint"]["seconds"] / 2)


def test_slow_storage_bounds_training_whatever_the_gpu_count(measured):
    slow_storage = assumptions(storage_gb_per_s=0.001)
    projection = bench.project(fast_loader(measured), slow_storage, shard_size=one_shard_per_256)
    seconds = {size["gpus"]: size["stages"]["train_joint"]["seconds"] for size in projection["sizes"]}
    assert {size["stages"]["train_joint"]["bottleneck"] for size in projection["sizes"]} == {"storage"}
    assert seconds[1] == pytest.approx(seconds[64])  # one shared storage: more GPUs do not help


def test_extraction_scales_with_total_cores(measured):
    """Whole waves of pipeline.fan_out's tasks over one worker thread per core: within a partial wave of
    the ideal (videos x seconds / cores), at every size."""
    from pipeline.fan_out import shard_size

    projection = bench.project(measured, assumptions(gpu_counts=[1, 8, 64]), shard_size=shard_size)
    per_core = 2.0 / 0.8  # the measured seconds at the measured parallel efficiency
    for size in projection["sizes"]:
        extraction = size["stages"]["extract_keypoints"]
        assert extraction["workers"] == size["cores"] == 8 * size["gpus"]
        assert extraction["bounds"]["cpu"] == pytest.approx(56_880 * per_core / size["cores"], rel=0.02)
    cpu = [size["stages"]["extract_keypoints"]["bounds"]["cpu"] for size in projection["sizes"]]
    assert cpu[0] / cpu[1] == pytest.approx(8, rel=0.02) and cpu[1] / cpu[2] == pytest.approx(8, rel=0.02)


def test_decoding_keeps_no_more_workers_busy_than_a_shard_has_tasks(measured):
    """decode_rgb's flow per 256-sample shard in tasks of 4: past 64 cores, more cores do not help."""
    projection = bench.project(measured, assumptions(gpu_counts=[8, 64]), shard_size=one_shard_per_256)
    eight, sixty_four = (size["stages"]["decode_rgb"] for size in projection["sizes"])
    assert eight["workers"] == sixty_four["workers"] == 64
    assert eight["seconds"] == pytest.approx(sixty_four["seconds"])
    assert eight["bounds"]["flow starts"] == pytest.approx(math.ceil(56_880 / 256) * 2.0)


def test_rendering_runs_in_one_process(measured):
    projection = bench.project(measured, assumptions(), shard_size=one_shard_per_256)
    assert {size["stages"]["render_heatmaps"]["seconds"] for size in projection["sizes"]} == {56_880 * 0.0005}


def test_many_small_tasks_make_the_scheduler_the_bottleneck(measured):
    measured["extraction_s_per_video"] = 1e-6
    values = assumptions(gpu_counts=[64], storage_gb_per_s=1e9, prefect_flow_start_s=0.0)
    size = bench.project(measured, values, shard_size=lambda samples, workers: 1)["sizes"][0]
    extraction = size["stages"]["extract_keypoints"]
    assert extraction["bottleneck"] == "scheduler"
    assert extraction["seconds"] == pytest.approx(56_880 * (0.001 + 0.05))


def test_every_gpu_count_names_a_bottleneck(measured):
    projection = bench.project(measured, assumptions(), shard_size=one_shard_per_256)
    assert [size["gpus"] for size in projection["sizes"]] == [1, 8, 64]
    for size in projection["sizes"]:
        stage, resource = size["bottleneck"].split(": ")
        assert resource == size["stages"][stage]["bottleneck"]
        assert size["stages"][stage]["seconds"] == max(s["seconds"] for s in size["stages"].values())
        for entry in size["stages"].values():
            assert entry["bottleneck"] in entry.get("bounds", entry.get("bounds_per_epoch"))
        assert size["wall_seconds"] == pytest.approx(sum(s["seconds"] for s in size["stages"].values()))


def test_an_unmeasured_stage_is_left_out_and_named(measured):
    measured.update(extraction_s_per_video=None, decode_s_per_sample=None, video_bytes_per_frame=None)
    size = bench.project(measured, assumptions(), shard_size=one_shard_per_256)["sizes"][0]
    assert size["not_measured"] == ["extract_keypoints", "decode_rgb"]
    assert size["stages"]["extract_keypoints"] is None and size["stages"]["decode_rgb"] is None
    assert size["wall_seconds"] == pytest.approx(sum(s["seconds"] for s in size["stages"].values() if s))


def test_gpu_hours_and_an_assumed_price(measured):
    without = bench.project(measured, assumptions(), shard_size=one_shard_per_256)
    assert all(size["usd_assumed_price"] is None for size in without["sizes"])
    priced = bench.project(measured, assumptions(usd_per_gpu_hour=2.5), shard_size=one_shard_per_256)
    for size in priced["sizes"]:
        assert size["gpu_hours_held"] == pytest.approx(size["wall_seconds"] * size["gpus"] / 3600)
        assert size["usd_assumed_price"] == pytest.approx(size["gpu_hours_held"] * 2.5)
        assert size["gpu_hours_busy"] <= size["gpu_hours_held"]


def test_poseconv3d_sanity_check(measured):
    check = bench.project(measured, assumptions(), shard_size=one_shard_per_256)["poseconv3d_check"]
    assert check["reported_clips_per_s"] == pytest.approx(16 / 0.212)
    assert check["predicted_clips_per_s"] == pytest.approx(71e12 * 0.30 / 120e9)  # RTX 3090, teacher fwd + bwd
    assert check["implied_utilisation"] == pytest.approx(16 / 0.212 * 120e9 / 71e12)
    assert check["teacher_forward_over_published"] == pytest.approx(40e9 / (2 * 20.6e9))  # 2 FLOPs a multiply-add


def test_every_assumption_has_a_source_and_the_output_is_json(measured):
    projection = bench.project(measured, assumptions(usd_per_gpu_hour=2.0), shard_size=one_shard_per_256)
    for name, entry in projection["assumptions"].items():
        assert set(entry) == {"value", "source"} and entry["source"].strip(), name
    assert "assumption" in projection["assumptions"]["gpu_utilisation"]["source"]
    assert "assumption" in projection["assumptions"]["storage_gb_per_s"]["source"]
    assert json.loads(json.dumps(projection)) == projection


def _gpu_record(path, device: str = "NVIDIA H200") -> None:
    stages = {"train_teacher": {"implied_utilisation": 0.033}, "train_student": {"implied_utilisation": 0.05},
              "train_joint": {"implied_utilisation": 0.054}}
    path.write_text(json.dumps({"projection_run": 1, "runs": [
        {"device": device, "batch": 32, "cudnn_benchmark": False, "stages": {"train_teacher": {"implied_utilisation": 0.01}}},
        {"device": device, "batch": 32, "cudnn_benchmark": True, "stages": stages}]}))


def test_a_measured_gpu_run_gives_its_gpu_and_its_lowest_stage_share(tmp_path):
    _gpu_record(tmp_path / "gpu.json")
    gpu, share, source = bench.measured_gpu(tmp_path / "gpu.json")
    assert (gpu, share) == ("H200", 0.033)  # the marked run, not the first; its stage of the lowest share
    assert source.startswith("measured") and "train_teacher" in source and "cuDNN benchmark on" in source


def test_without_a_known_measured_gpu_the_projection_assumes_one(tmp_path):
    assert bench.measured_gpu(tmp_path / "absent.json") is None
    _gpu_record(tmp_path / "gpu.json", device="Some Future GPU")
    assert bench.measured_gpu(tmp_path / "gpu.json") is None  # its peak is unknown: no share can be charged


def test_a_single_run_file_as_gpu_ntu_shapes_writes_it_is_read_too(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"device": "NVIDIA H200", "batch": 32, "cudnn_benchmark": True,
                                "stages": {"train_joint": {"implied_utilisation": 0.05}}}))
    assert bench.measured_gpu(path)[:2] == ("H200", 0.05)


def test_the_measured_share_is_used_unless_another_gpu_or_share_is_asked_for(tmp_path, monkeypatch):
    _gpu_record(tmp_path / "gpu.json")
    monkeypatch.setattr(bench, "GPU_MEASURED", tmp_path / "gpu.json")
    assert bench.gpu_assumption(bench.parse_args([]))["utilisation"] == 0.033
    assert bench.gpu_assumption(bench.parse_args(["--gpu", "H200"]))["utilisation"] == 0.033
    assert bench.gpu_assumption(bench.parse_args(["--gpu", "A100"])) == {"gpu": "A100", "utilisation": 0.30}
    assert bench.gpu_assumption(bench.parse_args(["--utilisation", "0.2"])) == {"gpu": "A100", "utilisation": 0.2}


def test_reproject_recomputes_the_projection_from_the_recorded_measurements(tmp_path, measured):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"shapes": {"epochs": EPOCHS}, "measured": measured, "projection": None}))
    assert bench.main(["--reproject", "--out", str(out), "--gpu", "A100", "--utilisation", "0.5"]) == 0
    projection = json.loads(out.read_text())["projection"]
    assert projection["assumptions"]["gpu_utilisation"]["value"] == 0.5
    assert projection["assumptions"]["parallel_efficiency"]["value"] == measured["parallel_efficiency"]
    expected = bench.default_assumptions(EPOCHS, utilisation=0.5, parallel_efficiency=measured["parallel_efficiency"])
    assert projection == json.loads(json.dumps(bench.project(measured, expected)))


def test_parallel_efficiency_is_the_measured_speed_up_or_named_as_missing():
    """No quoted figure: the assumption is the benchmark's own 2-worker measurement, or says it has none."""
    assert bench.default_assumptions(EPOCHS, parallel_efficiency=0.7)["parallel_efficiency"] == {
        "value": 0.7, "source": bench.PARALLEL_SOURCE}
    missing = bench.default_assumptions(EPOCHS)["parallel_efficiency"]
    assert missing["value"] is None and "not measured" in missing["source"]
