"""Execution settings (workers, Prefect task size, Dask address) and the params a stage may read."""

import pytest

from crychic.core.execution import Execution, execution_settings, loader_transport, loader_workers
from crychic.core.params import select


def test_environment_wins_over_the_file_which_wins_over_the_defaults(tmp_path):
    config = tmp_path / "execution.yaml"
    assert execution_settings(config, environ={}) == Execution()
    config.write_text("keypoint_workers: 8\ndask_address: tcp://scheduler:8786\n")
    assert execution_settings(config, environ={}) == Execution(keypoint_workers=8, dask_address="tcp://scheduler:8786")
    settings = execution_settings(config, environ={"CRYCHIC_KEYPOINT_WORKERS": "3", "CRYCHIC_DASK_ADDRESS": ""})
    assert settings.keypoint_workers == 3 and settings.dask_address is None


def test_the_example_file_states_the_defaults():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "execution.example.yaml"
    assert execution_settings(example, environ={}) == Execution()


def test_loader_workers_default_to_the_cores_the_model_leaves_free():
    assert execution_settings("absent.yaml", environ={}).train_workers is None
    assert execution_settings("absent.yaml", environ={"CRYCHIC_TRAIN_WORKERS": "auto"}).train_workers is None
    assert execution_settings("absent.yaml", environ={"CRYCHIC_TRAIN_WORKERS": "3"}).train_workers == 3
    assert loader_workers(None, "cpu", compute_threads=2, cores=2) == 0  # the CRYCHIC networks on 2 cores
    assert loader_workers(None, "cpu", compute_threads=1, cores=2) == 1  # a single-threaded keypoint baseline
    assert loader_workers(None, "cuda", cores=4) == 4 and loader_workers(None, "cuda", cores=32) == 8
    assert loader_workers(5, "cpu", compute_threads=2, cores=2) == 5  # a setting always wins


def test_bad_execution_settings_name_the_setting(tmp_path):
    config = tmp_path / "execution.yaml"
    config.write_text("keypoint_wrokers: 8\n")
    with pytest.raises(ValueError, match=r"execution.yaml: unknown execution settings \['keypoint_wrokers'\]"):
        execution_settings(config, environ={})
    with pytest.raises(ValueError, match="rgb_workers must be an integer"):
        execution_settings(tmp_path / "absent.yaml", environ={"CRYCHIC_RGB_WORKERS": "many"})
    with pytest.raises(ValueError, match="keypoint_batch_size must be at least 1"):
        execution_settings(tmp_path / "absent.yaml", environ={"CRYCHIC_KEYPOINT_BATCH_SIZE": "0"})


def test_a_stage_reads_only_its_keys_and_a_missing_one_is_named():
    params = {"seed": 1, "train": {"teacher": {"epochs": 3}, "batch_size": 16}, "loss": {"temperature": 0.1}}
    assert select(params, ["seed", "train.teacher"]) == {"seed": 1, "train": {"teacher": {"epochs": 3}}}
    with pytest.raises(KeyError, match="missing setting 'train.amp'"):
        select(params, ["train.amp"])
    with pytest.raises(KeyError, match="missing setting 'model'"):
        select(params, ["model.fusion"])


def test_loader_transport_is_uint8_on_cuda_and_float32_on_cpu_unless_set():
    assert execution_settings("absent.yaml", environ={}).loader_transport == "auto"
    assert loader_transport("auto", "cpu") == "float32"  # the CPU path: the committed figures' bits
    assert loader_transport("auto", "cuda") == "uint8"
    assert loader_transport("uint8", "cpu") == "uint8" and loader_transport("float32", "cuda") == "float32"
    assert execution_settings("absent.yaml", environ={"CRYCHIC_LOADER_TRANSPORT": "uint8"}).loader_transport == "uint8"
    with pytest.raises(ValueError, match="loader_transport"):
        execution_settings("absent.yaml", environ={"CRYCHIC_LOADER_TRANSPORT": "float16"})
