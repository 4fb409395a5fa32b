"""MLflow where users work: `make ui`'s server on a store of runs made by the stages' own MLflow code,
read through the REST API and in headless Chromium.

The store is built in a temporary project (no training: a stage's run, params, inputs and
per-epoch `val_top1` are what the UI shows): an experiment created before the kind tag existed,
the CRYCHIC stages run under DVC (their inputs' digests come from the project's dvc.lock) and a
baseline run by hand (content digests). The browser test needs Debian's `chromium` and
`chromium-driver`; `.ci/run` installs them and sets CRYCHIC_REQUIRE_BROWSER, under which a missing
browser fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_ROOT, free_port, processes_in_group
from crychic.core.params import load_params, select
from crychic.reporting.tracking import EXPERIMENT, EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, content_digest
from crychic.training.stage import PARAM_KEYS, build_parser, training_run

pytestmark = pytest.mark.slow  # a real MLflow server (and browser)

BIN = Path(sys.executable).parent
LOCKED = {  # out -> (producing stage, md5): what `dvc repro` would have written before the training stages
    "data/ingest": ("ingest", "0a1b2c3d4e5f60718293a4b5c6d7e8f9.dir"),
    "data/heatmaps": ("render_heatmaps", "5ab7c36245a1508c76f52445c5a3cff7.dir"),
    "data/rgb": ("decode_rgb", "9d8c7b6a5f4e3d2c1b0a998877665544.dir"),
    "models/teacher.pt": ("train_teacher", "af085af3c3eda8882602dd2dccd7a94b"),
    "models/student.pt": ("train_student", "c0ffee00c0ffee00c0ffee00c0ffee00"),
}
# stage, DVC experiment (None: run by hand), loss.contrastive_weight (None: not read), val_top1 per epoch
RUNS = [("teacher", "workspace", None, [0.25, 0.5, 0.5]),
        ("student", "workspace", 0.1, [0.25, 0.5, 0.625]),
        ("student", "contrastive-half", 0.5, [0.25, 0.625, 0.75]),
        ("joint", "workspace", 0.1, [0.5, 0.625, 0.6875]),
        ("gcn", None, None, [0.125, 0.25, 0.375])]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """A project folder with input files, a dvc.lock and an MLflow store of the runs in RUNS."""
    import mlflow

    root = tmp_path_factory.mktemp("ui-project")
    for name in ["data/ingest/manifest.parquet", "data/heatmaps/shard-000.h5", "data/rgb/shard-000.arrow",
                 "data/keypoints/keypoints.h5", "data/clips/clips.parquet", "models/teacher.pt", "models/student.pt"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    stages: dict = {}
    for out, (stage, md5) in LOCKED.items():
        stages.setdefault(stage, {"cmd": f"python -m stages.{stage}", "outs": []})["outs"].append(
            {"path": out, "hash": "md5", "md5": md5, "size": 1, **({"nfiles": 1} if md5.endswith(".dir") else {})})
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    params_file = PROJECT_ROOT / "params.yaml"
    previous_uri = mlflow.get_tracking_uri()
    run_ids = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        # A store from before this change: the experiment exists without the kind tag.
        mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}").create_experiment(EXPERIMENT)
        for stage, dvc_experiment, weight, val_top1 in RUNS:
            params = select(load_params(params_file), PARAM_KEYS[stage])
            if weight is not None:
                params["loss"]["contrastive_weight"] = weight
            if dvc_experiment is None:
                patch.delenv("DVC_STAGE", raising=False)
                patch.delenv("DVC_EXP_NAME", raising=False)
            else:
                patch.setenv("DVC_STAGE", f"train_{stage}")
                patch.setenv("DVC_EXP_NAME", dvc_experiment)
            args = build_parser(stage).parse_args(["--params", str(params_file)])
            with training_run(stage, params, args) as run:
                for epoch, top1 in enumerate(val_top1):
                    run.log_metrics({"val_top1": top1, "train_loss": 1.0 / (epoch + 1)}, step=epoch)
            run_ids.append(run.run_id)
    mlflow.set_tracking_uri(previous_uri)
    return {"root": root, "run_ids": run_ids}


@pytest.fixture(scope="module")
def server(store):
    """`python -m pipeline.mlflow_ui` (what `make ui` runs) in the project folder; stopped afterwards,
    leaving no process behind."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_STAGE", "DVC_EXP_NAME")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    log = store["root"] / "mlflow_ui.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.mlflow_ui", "--port", str(port)],
                                   cwd=store["root"], env={**env, "PYTHONPATH": os.pathsep.join(
                                       [str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])])}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        experiment = _wait_for(f"{api}/experiments/get-by-name?experiment_name={EXPERIMENT}", process, log)
        link = next(line.split(": ", 1)[1] for line in log.read_text().splitlines()
                    if line.startswith("Training runs of experiment"))
        yield {"port": port, "api": api, "experiment": experiment["experiment"], "link": link}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        assert processes_in_group(process.pid) == []


def test_rest_api_shows_a_training_experiment_whose_runs_list_their_datasets(store, server):
    experiment = server["experiment"]
    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"  # set on the old experiment
    runs = {r["info"]["run_id"]: r for r in _post(f"{server['api']}/runs/search",
                                                  {"experiment_ids": [experiment["experiment_id"]]})["runs"]}
    assert set(runs) == set(store["run_ids"])
    expected = {"teacher": ["data/heatmaps", "data/ingest"],
                "student": ["data/heatmaps", "data/rgb", "models/teacher.pt", "data/ingest"],
                "joint": ["data/heatmaps", "data/rgb", "models/student.pt", "data/ingest"]}
    for (stage, dvc_experiment, _, _), run_id in zip(RUNS, store["run_ids"]):
        inputs = runs[run_id]["inputs"]["dataset_inputs"]
        datasets = {i["dataset"]["name"]: i["dataset"] for i in inputs}
        assert all({"key": "mlflow.data.context", "value": "training"} in i["tags"] for i in inputs)
        assert all(d["source_type"] == "local" for d in datasets.values())
        if dvc_experiment is None:  # the baseline run by hand: the content digests of the paths it was given
            names = ["data/keypoints/keypoints.h5", "data/clips/clips.parquet", "data/ingest/manifest.parquet"]
            assert sorted(datasets) == sorted(names)
            for name in names:
                assert datasets[name]["digest"] == content_digest(store["root"] / name)
                assert "run outside DVC" in json.loads(datasets[name]["profile"])["digest"]
            continue
        assert sorted(datasets) == sorted(expected[stage])
        for name, dataset in datasets.items():
            assert dataset["digest"] == LOCKED[name][1]
            assert json.loads(dataset["source"])["uri"] == str(store["root"] / name)
            profile = json.loads(dataset["profile"])
            assert profile["digest"] == f"dvc.lock: md5 of out '{name}' of stage '{LOCKED[name][0]}'"


@pytest.fixture(scope="module")
def browser() -> tuple[str, str]:
    """Chromium and its driver (checked before the store and server are built)."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        reason = "no headless browser here: `apt-get install chromium chromium-driver` (.ci/run installs them)"
        if os.environ.get("CRYCHIC_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return chromium, chromedriver


def test_browser_shows_the_training_runs_and_compares_two_students(browser, store, server, tmp_path):
    chromium, chromedriver = browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tmp_path / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1600,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    experiment_id = server["experiment"]["experiment_id"]
    try:
        # The link `make ui` prints: the experiment's training runs, every stage's run listed.
        driver.get(server["link"])
        names = [f"train_{stage}-{exp or 'workspace'}" for stage, exp, _, _ in RUNS]
        text = _wait_for_text(driver, WebDriverWait, names + ["data/heatmaps"])
        driver.save_screenshot(str(tmp_path / "training_runs.png"))
        assert f"/experiments/{experiment_id}/runs" in driver.current_url, text[:2000]
        # The comparison of the two stage-2 students.
        first, second = store["run_ids"][1], store["run_ids"][2]
        base = server["link"].split("#")[0]
        driver.get(f'{base}#/compare-runs?runs=["{first}","{second}"]&experiments=["{experiment_id}"]'
                   "&workflowType=machine_learning")
        _wait_for_text(driver, WebDriverWait, ["train_student-workspace", "train_student-contrastive-half",
                                               "loss.contrastive_weight", "val_top1"])
        driver.save_screenshot(str(tmp_path / "compare_students.png"))
        weights = _row(driver, "loss.contrastive_weight")
        driver.save_screenshot(str(tmp_path / "compare_students_params.png"))
        top1 = _row(driver, "val_top1")
        driver.save_screenshot(str(tmp_path / "compare_students_metrics.png"))
        assert weights is not None and sorted(weights) == ["0.1", "0.5"], weights
        assert top1 is not None and sorted(top1) == ["0.625", "0.75"], top1  # the last epoch's values
    finally:
        driver.quit()
    for name in ("training_runs.png", "compare_students.png", "compare_students_params.png",
                 "compare_students_metrics.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert service.process is None or service.process.poll() is not None
    assert _processes_mentioning(str(profile)) == []  # no browser left behind


def test_under_real_dvc_a_run_logs_the_md5s_that_dvc_lock_records(tmp_path):
    """A toy DVC project: one stage writes a directory, the next opens a StageRun on it, under
    `dvc repro` and in a `dvc exp run --temp` workspace (whose own dvc.lock holds the md5)."""
    import mlflow

    repo, store = tmp_path / "toy", f"sqlite:///{tmp_path / 'store.db'}"
    repo.mkdir()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("DVC_STAGE", None)
    env.pop("DVC_EXP_NAME", None)
    (repo / "make_data.py").write_text("import pathlib\np = pathlib.Path('data/x')\n"
                                       "p.mkdir(parents=True, exist_ok=True)\n(p / 'a.txt').write_text('first')\n")
    (repo / "consume.py").write_text(
        "from crychic.reporting.tracking import StageRun\n"
        "with StageRun('consume', {'n': 1}, inputs=['data/x/a.txt']) as run:\n"
        "    pass\n"
        "open('run_id.txt', 'w').write(run.run_id)\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "make_data": {"cmd": "python make_data.py", "deps": ["make_data.py"], "outs": ["data/x"]},
        "consume": {"cmd": "python consume.py", "deps": ["consume.py", "data/x"],
                    "outs": [{"run_id.txt": {"cache": False}}]}}}))
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toy"], ["dvc", "repro"]):
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    client = mlflow.MlflowClient(store)

    def logged(run_id: str) -> dict:
        (dataset_input,) = client.get_run(run_id).inputs.dataset_inputs
        return {"name": dataset_input.dataset.name, "digest": dataset_input.dataset.digest,
                "source": json.loads(dataset_input.dataset.source)["uri"]}

    def locked() -> str:
        outs = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["make_data"]["outs"]
        return next(out["md5"] for out in outs if out["path"] == "data/x")

    first = logged((repo / "run_id.txt").read_text())
    assert first == {"name": "data/x", "digest": locked(), "source": str(repo.resolve() / "data/x")}
    # Change the data in a temporary workspace under .dvc/tmp/exps: its own dvc.lock has the new md5.
    (repo / "make_data.py").write_text((repo / "make_data.py").read_text().replace("first", "second"))
    for command in (["dvc", "exp", "run", "--temp", "-n", "second"], ["dvc", "exp", "apply", "second"]):
        done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    second = logged((repo / "run_id.txt").read_text())
    assert second == {"name": "data/x", "digest": locked(), "source": str(repo.resolve() / "data/x")}
    assert second["digest"] != first["digest"]


ROW_CELLS = """
const key = arguments[0];
const exact = [...document.querySelectorAll('body *')].filter(e => e.innerText && e.innerText.trim() === key);
const labels = exact.filter(e => ![...e.children].some(c => exact.includes(c)));  // the innermost
for (const label of labels) {
  const box = label.getBoundingClientRect();
  if (box.height === 0) continue;
  // The nearest enclosing element (table row, grid pair) with text cells level with the label.
  for (let scope = label.parentElement, depth = 0; scope && depth < 6; scope = scope.parentElement, depth++) {
    const cells = [...scope.querySelectorAll('*')].filter(e => {
      if (e.children.length > 0 || !e.innerText || !e.innerText.trim()) return false;
      const r = e.getBoundingClientRect(), middle = (r.top + r.bottom) / 2;
      return r.height > 0 && r.left >= box.right && middle > box.top && middle < box.bottom;
    });
    if (cells.length >= 2) {
      label.scrollIntoView({block: 'center'});
      return cells.map(c => c.innerText.trim());
    }
  }
}
return null;
"""


def _row(driver, key: str) -> list[str] | None:
    """The text cells level with `key` and right of it, as the reader sees the row (the comparison's
    params are a table, its metrics two virtualized grids side by side); scrolls it into view."""
    return driver.execute_script(ROW_CELLS, key)


def _wait_for_text(driver, wait, needles: list[str], timeout: float = 90) -> str:
    def page_text(d):
        text = d.execute_script("return document.body ? document.body.innerText : ''")
        return text if all(n in text for n in needles) else False

    try:
        return wait(driver, timeout).until(page_text)
    except Exception as error:
        text = driver.execute_script("return document.body ? document.body.innerText : ''")
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"{driver.current_url}: {missing} not on the page; it shows:\n{text[:3000]}") from error


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None or time.time() > deadline:
                raise AssertionError(f"the MLflow UI did not come up:\n{log.read_text()[-4000:]}") from None
            time.sleep(1)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
