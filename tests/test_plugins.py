"""Plugins as a user installs them: a package whose entry points add an export target and a
model format, used through ``nbmlops`` (export, register, load) as the built-ins are."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

import nbmlops
from nbmlops.errors import JobSpecError, UnsafeModelError
from nbmlops.export import register_target, target_names
from nbmlops.export import targets as export_targets
from nbmlops.registry import format_names, get_format, register_format
from nbmlops.registry import formats as model_formats
from tests.test_cli import NBMLOPS

PLUGIN = "nbmlops_demo_plugin"

PLUGIN_SOURCE = '''
"""A third party's nbmlops plugin: a Nomad-like export target and a JSON model format."""
import json
import shlex


class NomadTarget:
    needs_schedule = False

    def render(self, job):
        return {"nomad/job.hcl": f"job {job.name!r} {{ command = {job.command()!r} }}\\n"}

    def instructions(self, files):
        return "submit it: nomad job run " + " ".join(shlex.quote(f) for f in files)


class Threshold:
    """A model of the plugin's own: 1 where the first feature passes the threshold."""

    def __init__(self, threshold):
        self.threshold = threshold

    def predict(self, X):
        return [int(row[0] > self.threshold) for row in X]


class PlainJson:
    media_type = "application/vnd.demo.model+json"
    file_name = "model.json"

    def dump(self, model, *, trusted):
        return json.dumps({"threshold": model.threshold}).encode(), ()

    def load(self, data, recorded, *, trusted, reference):
        return Threshold(json.loads(data)["threshold"])

    def audit(self, data, recorded, *, trusted, reference):
        json.loads(data)  # JSON runs no code


NOMAD = NomadTarget()
PLAIN_JSON = PlainJson()
'''

ENTRY_POINTS = f"""
[nbmlops.export_targets]
nomad = {PLUGIN}:NOMAD
broken = {PLUGIN}:does_not_exist

[nbmlops.model_formats]
plainjson = {PLUGIN}:PLAIN_JSON
"""


def install_plugin(where: Path) -> Path:
    """What ``pip install`` leaves: the module and its dist-info with entry points."""
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    info = where / f"{PLUGIN}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return where


@pytest.fixture
def fresh_registries() -> Iterator[None]:
    """The registries as in a new process (entry points not read yet); restored after."""
    kept = [(r, dict(r._items), r._loaded)
            for r in (export_targets._TARGETS, model_formats._FORMATS)]
    for registry, _, _ in kept:
        registry._loaded = False
    yield
    for registry, items, loaded in kept:
        registry._items, registry._loaded = items, loaded
    sys.modules.pop(PLUGIN, None)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registries: None) -> Path:
    site = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("C = 1.0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(C)")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def loading_plugins() -> list[str]:
    """Read the entry points now; the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target_names().index("cron")
        format_names()
    return [str(w.message) for w in caught]


def test_an_installed_target_and_format_are_found_and_a_broken_one_is_named(
        plugin: Path) -> None:
    shown = loading_plugins()
    assert len(shown) == 1, shown  # once, for the one broken plugin
    assert "export target plugin 'broken'" in shown[0]
    assert f"{PLUGIN}:does_not_exist" in shown[0]
    assert list(target_names()) == ["cron", "systemd", "github", "airflow", "nomad"]
    assert format_names() == ("skops", "pickle", "plainjson")
    assert loading_plugins() == []  # read once


def test_export_writes_an_installed_targets_files(store_env: Path, plugin: Path) -> None:
    nb = notebook(store_env / "project" / "train.ipynb")
    with pytest.warns(RuntimeWarning, match="'broken'"):
        exported = nbmlops.export_job(nb, job="train", targets=["nomad", "github"])
    hcl = exported.folder / "nomad" / "job.hcl"
    assert hcl in exported.files
    assert "jobs run" in hcl.read_text()
    assert str(exported.folder) in hcl.read_text()
    assert any(line.startswith("submit it: nomad job run ") for line in exported.instructions)
    assert exported.spec.targets == ("nomad", "github")
    spec = yaml.safe_load((exported.folder / "job.yaml").read_text())
    assert spec["targets"] == ["nomad", "github"]


def test_the_command_line_offers_and_uses_an_installed_target(store_env: Path,
                                                              plugin: Path) -> None:
    nb = notebook(store_env / "project" / "train.ipynb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(plugin), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NBMLOPS, *args], capture_output=True, text=True, env=env,
                              timeout=300)

    assert "github, airflow, nomad" in cli("export", "--help").stdout
    done = cli("export", str(nb), "--job", "train", "--target", "nomad")
    assert done.returncode == 0, done.stderr
    assert (store_env / "project" / "jobs" / "train" / "nomad" / "job.hcl").is_file()
    assert "submit it: nomad job run" in done.stdout
    assert "'broken'" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = cli("export", str(nb), "--job", "train", "--target", "kubernetes")
    assert unknown.returncode == 2
    assert "invalid choice: 'kubernetes'" in unknown.stderr
    assert "'nomad'" in unknown.stderr


def test_register_and_load_a_model_in_an_installed_format(store_env: Path,
                                                          plugin: Path) -> None:
    assert "'broken'" in loading_plugins()[0]
    model = sys.modules[PLUGIN].Threshold(0.5)
    version = nbmlops.register(model, name="gate", format="plainjson")
    assert version.format == "plainjson"
    loaded = nbmlops.load_model("gate")
    assert type(loaded.model).__name__ == "Threshold"
    assert loaded.predict([[0.2], [0.9]]) == [0, 1]
    bundle = nbmlops.export_bundle("gate/1", store_env / "bundle")
    assert (bundle / "model.json").read_text() == '{"threshold": 0.5}'
    from nbmlops.serving.bundle import load_bundle

    assert load_bundle(bundle).model.predict([[0.7]]) == [1]
    # the plugin uninstalled: the stored version says what is missing, in one line
    model_formats._FORMATS._items.pop("plainjson")
    with pytest.raises(UnsafeModelError, match="unknown format 'plainjson'") as gone:
        nbmlops.load_model("gate")
    assert "install the plugin" in str(gone.value)
    assert "\n" not in str(gone.value)


def test_an_unknown_name_is_one_line_naming_the_known(store_env: Path, plugin: Path) -> None:
    assert "'broken'" in loading_plugins()[0]
    with pytest.raises(ValueError, match=r"unknown model format 'onnx'; use one of skops, "
                       r"pickle, plainjson$"):
        nbmlops.register(sys.modules[PLUGIN].Threshold(0.5), name="gate", format="onnx")
    nb = notebook(store_env / "project" / "train.ipynb")
    with pytest.raises(JobSpecError, match=r"^target 'kubernetes' is not one of cron, "
                       r"systemd, github, airflow, nomad$"):
        nbmlops.export_job(nb, job="train", targets=["kubernetes"])
    with pytest.raises(ValueError, match=r"^unknown model format 'onnx'"):
        get_format("onnx")


class _Echo:
    needs_schedule = True

    def __init__(self, folder: str = "echo") -> None:
        self.folder = folder

    def render(self, job: Any) -> dict[str, str]:
        return {f"{self.folder}/run.txt": job.command() + "\n"}

    def instructions(self, files: list[str]) -> str:
        return f"read {files[0]}"


def test_register_at_run_time_wins_over_an_entry_point(store_env: Path,
                                                       plugin: Path) -> None:
    register_target("nomad", _Echo("nomad"))  # before the entry points are read
    with pytest.warns(RuntimeWarning, match="'broken'"):
        assert isinstance(export_targets.lookup("nomad"), _Echo)
    nb = notebook(store_env / "project" / "train.ipynb")
    with pytest.raises(JobSpecError, match="nomad runs jobs on a schedule"):
        nbmlops.export_job(nb, job="train", targets=["nomad"])
    exported = nbmlops.export_job(nb, job="train", targets=["nomad"], schedule="0 3 * * *")
    assert (exported.folder / "nomad" / "run.txt").is_file()  # its files go under nomad/


def test_what_does_not_follow_the_protocol_is_refused(fresh_registries: None) -> None:
    with pytest.raises(TypeError, match="does not follow ExportTarget"):
        register_target("half", object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be non-empty text"):
        register_target("a/b", _Echo())

    class Sneaky:
        media_type = "x"
        file_name = "../model.bin"

        def dump(self, model: Any, *, trusted: Any) -> Any: ...
        def load(self, *args: Any, **kwargs: Any) -> Any: ...
        def audit(self, *args: Any, **kwargs: Any) -> None: ...

    with pytest.raises(ValueError, match="file_name must be a plain file name"):
        register_format("sneaky", Sneaky())
    assert "sneaky" not in format_names()
    assert "half" not in target_names()


def test_a_target_writing_outside_its_folder_is_refused(store_env: Path,
                                                        fresh_registries: None) -> None:
    class Stray(_Echo):
        needs_schedule = False

        def render(self, job: Any) -> dict[str, str]:
            return {"cron/run.sh": "echo replaced"}

    register_target("stray", Stray())
    nb = notebook(store_env / "project" / "train.ipynb")
    with pytest.raises(JobSpecError, match="a target's files go under stray/"):
        nbmlops.export_job(nb, job="train", targets=["stray"])
