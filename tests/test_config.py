"""Where the store and artifacts live (config), and what a run ran on: installed
packages, the environment record, and the git state of the project (real git, in
temporary repositories)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbmlops.config import (
    Settings,
    find_project_root,
    resolve_settings,
    sqlite_path,
)
from nbmlops.errors import ConfigError, NbmlopsError
from nbmlops.tracking.environment import (
    capture_environment,
    git_commit,
    git_dirty,
    installed_packages,
)


def _project(tmp_path: Path, tool: str | None = None) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    text = '[project]\nname = "demo"\n'
    if tool is not None:
        text += "\n[tool.nbmlops]\n" + tool
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    return root.resolve()


def _settings(start: Path, **env: str) -> Settings:
    return resolve_settings(start=start, env=env)


# -- project root ---------------------------------------------------------------------------


def test_project_root_by_pyproject_from_a_nested_folder(tmp_path: Path) -> None:
    root = _project(tmp_path)
    nested = root / "notebooks" / "deep"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == root
    assert find_project_root(root) == root


def test_project_root_by_git_folder_or_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert find_project_root(repo / "a" / "b") == repo.resolve()
    worktree = tmp_path / "wt"
    (worktree / "sub").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /somewhere/else\n")
    assert find_project_root(worktree / "sub") == worktree.resolve()


def test_nearest_project_wins(tmp_path: Path) -> None:
    outer = _project(tmp_path)
    inner = outer / "packages" / "inner"
    inner.mkdir(parents=True)
    (inner / "pyproject.toml").write_text("")
    assert find_project_root(inner / ".") == inner
    assert find_project_root(outer / "packages") == outer


def test_no_marker_means_the_start_folder(tmp_path: Path) -> None:
    if any((p / m).exists() for p in tmp_path.parents for m in ("pyproject.toml", ".git")):
        pytest.skip("the temporary folder is inside a project")
    start = tmp_path / "loose" / "folder"
    start.mkdir(parents=True)
    assert find_project_root(start) == start.resolve()
    s = _settings(start)
    assert s.project_root == start.resolve()
    assert s.artifacts_root == start.resolve() / ".nbmlops" / "artifacts"


# -- defaults -------------------------------------------------------------------------------


def test_default_store_at_project_root(tmp_path: Path) -> None:
    root = _project(tmp_path)
    nested = root / "notebooks"
    nested.mkdir()
    s = _settings(nested)
    assert s == Settings(store_url=f"sqlite:///{root}/.nbmlops/lineage.db",
                         artifacts_root=root / ".nbmlops" / "artifacts", project_root=root,
                         auto_upgrade=True, source="default")
    assert sqlite_path(s.store_url) == root / ".nbmlops" / "lineage.db"


def test_explicit_env_mapping_ignores_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    monkeypatch.setenv("NBMLOPS_STORE", str(tmp_path / "from-process.db"))
    monkeypatch.setenv("NBMLOPS_ARTIFACTS", str(tmp_path / "from-process"))
    monkeypatch.setenv("NBMLOPS_AUTO_UPGRADE", "0")
    s = resolve_settings(start=root, env={})
    assert s.source == "default"
    assert s.store_url == f"sqlite:///{root}/.nbmlops/lineage.db"
    assert s.auto_upgrade is True
    # and without an explicit mapping, the process environment is what counts
    assert resolve_settings(start=root).store_url == f"sqlite:///{tmp_path / 'from-process.db'}"


def test_empty_env_values_count_as_unset(tmp_path: Path) -> None:
    root = _project(tmp_path)
    s = _settings(root, NBMLOPS_STORE="", NBMLOPS_ARTIFACTS="", NBMLOPS_AUTO_UPGRADE="")
    assert s == _settings(root)


# -- [tool.nbmlops] -------------------------------------------------------------------------


def test_pyproject_store_relative_to_project_root(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "data/lineage.db"\n')
    nested = root / "nb"
    nested.mkdir()
    s = _settings(nested)
    assert s.source == "pyproject.toml"
    assert s.store_url == f"sqlite:///{root}/data/lineage.db"
    # a store folder is self-contained: artifacts go beside the database
    assert s.artifacts_root == root / "data" / "artifacts"
    assert s.project_root == root


def test_pyproject_store_and_artifacts(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "../shared/lineage.db"\nartifacts = "blobs"\n'
                              "auto_upgrade = false\n")
    s = _settings(root / ".")
    assert s.store_url == f"sqlite:///{tmp_path.resolve()}/shared/lineage.db"
    assert s.artifacts_root == root / "blobs"
    assert s.auto_upgrade is False


def test_pyproject_artifacts_only(tmp_path: Path) -> None:
    root = _project(tmp_path, 'artifacts = "out/arts"\n')
    s = _settings(root)
    assert s.source == "default"
    assert s.store_url == f"sqlite:///{root}/.nbmlops/lineage.db"
    assert s.artifacts_root == root / "out" / "arts"


def test_pyproject_sqlite_url_relative_path(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "sqlite:///db/lineage.db"\n')
    s = _settings(root)
    assert s.store_url == f"sqlite:///{root}/db/lineage.db"
    assert s.artifacts_root == root / "db" / "artifacts"


def test_sqlite_url_keeps_its_driver_and_options(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "sqlite+pysqlite:///db/l.db?timeout=30"\n')
    s = _settings(root / ".")
    assert s.store_url == f"sqlite+pysqlite:///{root}/db/l.db?timeout=30"
    assert s.artifacts_root == root / "db" / "artifacts"
    assert s.artifacts_root.is_absolute()
    s = _settings(root, NBMLOPS_STORE="sqlite:///rel.db?mode=rwc")
    assert s.store_url == f"sqlite:///{root}/rel.db?mode=rwc"


def test_absolute_and_server_urls_are_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "abs" / "lineage.db"
    root = _project(tmp_path, f'store = "sqlite:///{absolute}"\n')
    assert _settings(root).store_url == f"sqlite:///{absolute}"
    pg = "postgresql+psycopg://user@db.example/lineage"
    s = _settings(root, NBMLOPS_STORE=pg)
    assert s.store_url == pg
    assert s.source == "env"
    # no database file to sit beside: the default artifact folder
    assert s.artifacts_root == root / ".nbmlops" / "artifacts"


def test_in_memory_sqlite(tmp_path: Path) -> None:
    root = _project(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        s = _settings(root, NBMLOPS_STORE=url)
        assert s.store_url == url
        assert s.artifacts_root == root / ".nbmlops" / "artifacts"


# -- environment variables ------------------------------------------------------------------


def test_env_beats_pyproject(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "p/lineage.db"\nartifacts = "p/arts"\n'
                              "auto_upgrade = true\n")
    s = _settings(root, NBMLOPS_STORE=str(tmp_path / "e" / "lineage.db"),
                  NBMLOPS_ARTIFACTS=str(tmp_path / "e" / "arts"), NBMLOPS_AUTO_UPGRADE="off")
    assert s.source == "env"
    assert s.store_url == f"sqlite:///{tmp_path.resolve()}/e/lineage.db"
    assert s.artifacts_root == tmp_path.resolve() / "e" / "arts"
    assert s.auto_upgrade is False


def test_env_store_with_pyproject_artifacts(tmp_path: Path) -> None:
    root = _project(tmp_path, 'artifacts = "p/arts"\n')
    s = _settings(root, NBMLOPS_STORE=str(tmp_path / "e" / "lineage.db"))
    assert s.source == "env"
    assert s.artifacts_root == root / "p" / "arts"


def test_env_store_alone_puts_artifacts_beside_it(tmp_path: Path) -> None:
    root = _project(tmp_path, 'store = "p/lineage.db"\n')
    s = _settings(root, NBMLOPS_STORE=str(tmp_path / "e" / "lineage.db"))
    assert s.artifacts_root == tmp_path.resolve() / "e" / "artifacts"


def test_env_relative_paths_are_from_the_start_folder(tmp_path: Path) -> None:
    root = _project(tmp_path)
    nested = root / "nb"
    nested.mkdir()
    s = _settings(nested, NBMLOPS_STORE="store/l.db", NBMLOPS_ARTIFACTS="../arts")
    assert s.store_url == f"sqlite:///{nested}/store/l.db"
    assert s.artifacts_root == root / "arts"


def test_env_paths_expand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    s = _settings(root, NBMLOPS_STORE="~/x/lineage.db", NBMLOPS_ARTIFACTS="~/arts")
    assert s.store_url == f"sqlite:///{home.resolve()}/x/lineage.db"
    assert s.artifacts_root == home.resolve() / "arts"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True),
     ("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_auto_upgrade_env_values(tmp_path: Path, value: str, expected: bool) -> None:
    root = _project(tmp_path, "auto_upgrade = " + ("false" if expected else "true") + "\n")
    assert _settings(root, NBMLOPS_AUTO_UPGRADE=value).auto_upgrade is expected


def test_auto_upgrade_from_pyproject(tmp_path: Path) -> None:
    root = _project(tmp_path, "auto_upgrade = false\n")
    assert _settings(root).auto_upgrade is False


# -- malformed settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        ({"NBMLOPS_AUTO_UPGRADE": "maybe"}, "NBMLOPS_AUTO_UPGRADE", "1/0, true/false"),
        ({"NBMLOPS_AUTO_UPGRADE": "  "}, "NBMLOPS_AUTO_UPGRADE", "1/0, true/false"),
        ({"NBMLOPS_STORE": "   "}, "NBMLOPS_STORE", "is empty"),
        ({"NBMLOPS_STORE": "my db://host/x"}, "NBMLOPS_STORE", "not a SQLAlchemy URL"),
        ({"NBMLOPS_STORE": "://host/x"}, "NBMLOPS_STORE", "not a SQLAlchemy URL"),
    ],
)
def test_malformed_env_values(tmp_path: Path, env: dict[str, str], setting: str,
                              words: str) -> None:
    root = _project(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_settings(start=root, env=env)
    assert info.value.setting == setting
    assert setting in str(info.value)
    assert words in str(info.value)
    assert isinstance(info.value, NbmlopsError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("toml", "setting", "words"),
    [
        ("store = 5\n", "tool.nbmlops.store", "must be a string"),
        ("artifacts = ['a']\n", "tool.nbmlops.artifacts", "must be a string"),
        ('auto_upgrade = "yes"\n', "tool.nbmlops.auto_upgrade", "true or false"),
        ("auto_upgrade = 1\n", "tool.nbmlops.auto_upgrade", "true or false"),
        ('storre = "x.db"\n', "tool.nbmlops", "unknown key(s) ['storre']"),
        ('store = ""\n', "[tool.nbmlops] store", "is empty"),
        ('store = "bad scheme://x"\n', "[tool.nbmlops] store", "not a SQLAlchemy URL"),
    ],
)
def test_malformed_tool_table(tmp_path: Path, toml: str, setting: str, words: str) -> None:
    root = _project(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        _settings(root)
    assert info.value.setting == setting
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("text", "setting", "words"),
    [
        (b"[tool.nbmlops\nstore = 'x'\n", None, "cannot read [tool.nbmlops]"),
        (b'[tool]\nnbmlops = 3\n', "tool.nbmlops", "must be a table"),
        (b'tool = "not a table"\n', "tool", "must be a table"),
        (b'[project]\nname = "caf\xe9"\n', None, "cannot read [tool.nbmlops]"),  # not UTF-8
    ],
)
def test_malformed_pyproject(tmp_path: Path, text: bytes, setting: str | None,
                             words: str) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_bytes(text)
    with pytest.raises(ConfigError) as info:
        _settings(root)
    assert words in str(info.value)
    assert str(root / "pyproject.toml") in str(info.value)
    assert info.value.setting == (setting or str(root.resolve() / "pyproject.toml"))


def test_malformed_pyproject_is_reported_even_when_env_sets_the_store(tmp_path: Path) -> None:
    # the file is still read: a broken pyproject.toml is reported, not silently skipped
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.nbmlops\n")
    with pytest.raises(ConfigError):
        _settings(root, NBMLOPS_STORE=str(tmp_path / "x.db"))


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rel/x.db", Path("rel/x.db")),
        ("sqlite:////abs/x.db", Path("/abs/x.db")),
        ("sqlite:////abs/x.db?mode=ro", Path("/abs/x.db")),
        ("sqlite+pysqlite:////abs/x.db", Path("/abs/x.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_sqlite_path(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path


# -- installed packages and the environment record ------------------------------------------


def test_installed_packages_match_importlib_metadata() -> None:
    packages = installed_packages()
    for dist in ("numpy", "pandas", "scikit-learn", "xxhash", "pytest"):
        assert packages[dist] == importlib.metadata.version(dist), dist
    assert list(packages) == sorted(packages)
    assert all(k == k.lower() and "_" not in k and "." not in k for k in packages)


def test_installed_packages_reads_folder_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name in ("Foo_Bar-1.2.3.dist-info", "zope.interface-6.0.dist-info",
                 "legacy_pkg-0.5-py3.11.egg-info", "PyYAML-5.4.1-py3.11-linux-x86_64.egg-info",
                 "dashed-name-2.0.egg-info", "numpy-0.0.1.dist-info",
                 "devel.egg-info", "README", "not-a-dist-info"):
        (site / name).mkdir()
    (site / "plain_file-9.9.dist-info.txt").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "missing"),
                                      str(site / "README")])
    packages = installed_packages()
    assert packages["foo-bar"] == "1.2.3"
    assert packages["zope-interface"] == "6.0"
    assert packages["legacy-pkg"] == "0.5"
    assert packages["pyyaml"] == "5.4.1"
    assert packages["dashed-name"] == "2.0"
    assert packages["numpy"] == "0.0.1"  # the first entry on sys.path wins, as for imports
    assert "devel" not in packages
    assert not any(k.startswith(("plain-file", "plain_file", "legacy-pkg-", "not-a"))
                   for k in packages)  # (real packages such as notebook-shim may be there)


def test_capture_environment() -> None:
    capture_environment.cache_clear()
    env = capture_environment()
    assert capture_environment() is env  # computed once per process
    assert env.python == platform.python_version()
    assert env.implementation == platform.python_implementation()
    assert env.platform == platform.platform()
    assert env.packages == tuple(installed_packages().items())
    assert env.package_versions()["pandas"] == importlib.metadata.version("pandas")
    blob = json.dumps([env.python, env.implementation, env.platform, dict(env.packages)],
                      sort_keys=True)
    assert env.digest == hashlib.sha256(blob.encode()).hexdigest()


# -- git ------------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git_env(home: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }


class Git:
    def __init__(self, home: Path) -> None:
        self.env = _git_env(home)

    def __call__(self, cwd: Path, *args: str) -> str:
        out = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()

    def commit(self, repo: Path, name: str, text: str) -> str:
        (repo / name).write_text(text)
        self(repo, "add", name)
        self(repo, "commit", "-q", "-m", f"write {name}")
        return self(repo, "rev-parse", "HEAD")


@pytest.fixture
def git(tmp_path: Path) -> Git:
    home = tmp_path / "home"
    home.mkdir()
    return Git(home)


@pytest.fixture
def repo(tmp_path: Path, git: Git) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git.commit(repo, "a.txt", "one\n")
    return repo


@needs_git
def test_git_commit_of_a_branch(repo: Path, git: Git) -> None:
    second = git.commit(repo, "a.txt", "two\n")
    assert git_commit(repo) == second
    (repo / "sub" / "deeper").mkdir(parents=True)
    assert git_commit(repo / "sub" / "deeper") == second
    assert (repo / ".git" / "refs" / "heads" / "main").is_file()


@needs_git
def test_git_commit_from_packed_refs(repo: Path, git: Git) -> None:
    head = git.commit(repo, "b.txt", "b\n")
    git(repo, "tag", "-a", "v1", "-m", "annotated: adds a peeled line")
    git(repo, "branch", "other/refs/heads/main")  # a ref ending like ours
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    packed = (repo / ".git" / "packed-refs").read_text()
    assert f"{head} refs/heads/main" in packed
    assert "\n^" in packed
    assert git_commit(repo) == head
    # a new commit writes a loose ref again, which wins over the stale packed one
    newer = git.commit(repo, "c.txt", "c\n")
    assert newer in (repo / ".git" / "refs" / "heads" / "main").read_text()
    assert git_commit(repo) == newer


@needs_git
def test_git_commit_of_a_branch_with_slashes(repo: Path, git: Git) -> None:
    git(repo, "checkout", "-q", "-b", "feature/x")
    head = git.commit(repo, "f.txt", "f\n")
    assert git_commit(repo) == head
    git(repo, "pack-refs", "--all")
    assert git_commit(repo) == head


@needs_git
def test_git_commit_detached_head(repo: Path, git: Git) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git.commit(repo, "a.txt", "two\n")
    git(repo, "checkout", "-q", "--detach", first)
    assert (repo / ".git" / "HEAD").read_text().strip() == first
    assert git_commit(repo) == first


@needs_git
def test_git_commit_of_an_unborn_branch(tmp_path: Path, git: Git) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    assert git_commit(empty) is None


@needs_git
def test_git_commit_in_a_worktree(repo: Path, git: Git, tmp_path: Path) -> None:
    main_head = git(repo, "rev-parse", "HEAD")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert (wt / ".git").is_file()
    assert git_commit(wt) == main_head
    wt_head = git.commit(wt, "w.txt", "w\n")
    assert wt_head != main_head
    assert git_commit(wt) == wt_head
    assert git_commit(repo) == main_head
    (wt / "sub").mkdir()
    assert git_commit(wt / "sub") == wt_head
    git(repo, "pack-refs", "--all")  # the branch now lives only in the common packed-refs
    assert not (repo / ".git" / "refs" / "heads" / "feature").exists()
    assert git_commit(wt) == wt_head
    assert git_commit(repo) == main_head


@needs_git
def test_git_commit_in_a_detached_worktree(repo: Path, git: Git, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git.commit(repo, "a.txt", "two\n")
    wt = tmp_path / "wt-detached"
    git(repo, "worktree", "add", "-q", "--detach", str(wt), first)
    assert git_commit(wt) == first


@needs_git
def test_git_commit_through_a_relative_gitdir_file(repo: Path, git: Git, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".git").write_text("gitdir: ../repo/.git\n")
    assert git_commit(linked) == head


def test_git_commit_outside_a_repository(tmp_path: Path) -> None:
    if any((p / ".git").exists() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("the temporary folder is inside a git repository")
    assert git_commit(tmp_path) is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".git").mkdir()  # no HEAD in it
    assert git_commit(broken) is None


@needs_git
def test_git_dirty(repo: Path, git: Git, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in git.env.items():
        if key.startswith("GIT_") or key == "HOME":
            monkeypatch.setenv(key, value)
    assert git_dirty(repo) is False
    (repo / "untracked.txt").write_text("new")
    assert git_dirty(repo) is False  # untracked files do not make the tree dirty
    (repo / "a.txt").write_text("changed\n")
    assert git_dirty(repo) is True
    (repo / "sub").mkdir()
    assert git_dirty(repo / "sub") is True
    git(repo, "checkout", "-q", "--", "a.txt")
    assert git_dirty(repo) is False
    git(repo, "add", "untracked.txt")
    assert git_dirty(repo) is True  # staged counts


@needs_git
def test_git_dirty_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any((p / ".git").exists() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("the temporary folder is inside a git repository")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_dirty(tmp_path) is None
    assert git_dirty(tmp_path / "does-not-exist") is None


# -- artifacts on object storage ------------------------------------------------------------


def test_pyproject_artifacts_url_with_options(tmp_path: Path) -> None:
    root = _project(tmp_path, 'artifacts = "s3://team-bucket/ml/"\n\n'
                              "[tool.nbmlops.artifacts_options]\n"
                              'endpoint_url = "http://127.0.0.1:9000"\nprofile = "ml-team"\n')
    s = _settings(root)
    assert s.artifacts_url == "s3://team-bucket/ml"
    assert s.artifacts_location == "s3://team-bucket/ml"
    assert dict(s.artifacts_options) == {"endpoint_url": "http://127.0.0.1:9000",
                                         "profile": "ml-team"}
    # the local folder is then the cache of what was read, where the artifacts would be
    assert s.artifacts_root == root / ".nbmlops" / "artifact-cache"
    assert "ml-team" not in repr(s)  # options are not shown
    assert "9000" not in repr(s)


def test_env_artifacts_url_and_options_beat_pyproject(tmp_path: Path) -> None:
    root = _project(tmp_path, 'artifacts = "s3://a-bucket/x"\n\n'
                              "[tool.nbmlops.artifacts_options]\nprofile = \"ml\"\n")
    s = _settings(root, NBMLOPS_ARTIFACTS="s3://other-bucket/y",
                  NBMLOPS_ARTIFACTS_OPTIONS='{"endpoint_url": "http://127.0.0.1:1"}')
    assert s.artifacts_url == "s3://other-bucket/y"
    assert dict(s.artifacts_options) == {"endpoint_url": "http://127.0.0.1:1"}  # replaced
    local = _settings(root, NBMLOPS_ARTIFACTS="blobs")
    assert local.artifacts_url is None
    assert local.artifacts_root == root / "blobs"
    assert dict(local.artifacts_options) == {}  # options only go with a URL


def test_a_file_url_is_a_local_folder(tmp_path: Path) -> None:
    root = _project(tmp_path, f'artifacts = "file://{tmp_path}/blobs"\n')
    s = _settings(root)
    assert s.artifacts_url is None
    assert s.artifacts_root == tmp_path.resolve() / "blobs"


def test_settings_env_carries_url_and_options_to_a_child(tmp_path: Path) -> None:
    from nbmlops.config import settings_env

    root = _project(tmp_path, 'artifacts = "s3://a-bucket/x"\n\n'
                              "[tool.nbmlops.artifacts_options]\nprofile = \"ml\"\n")
    s = _settings(root)
    env = settings_env(s)
    assert env["NBMLOPS_ARTIFACTS"] == "s3://a-bucket/x"
    assert json.loads(env["NBMLOPS_ARTIFACTS_OPTIONS"]) == {"profile": "ml"}
    child = _settings(root, **env)  # what a child process started there resolves
    assert (child.store_url, child.artifacts_url, child.artifacts_options,
            child.artifacts_root) == (s.store_url, s.artifacts_url, s.artifacts_options,
                                      s.artifacts_root)
    (tmp_path / "plain").mkdir()
    assert "NBMLOPS_ARTIFACTS_OPTIONS" not in settings_env(_settings(_project(
        tmp_path / "plain")))


@pytest.mark.parametrize(
    ("toml", "env", "setting", "words"),
    [
        ('artifacts = "s3://bucket/a/../b"\n', {}, "[tool.nbmlops] artifacts", "'..'"),
        ('artifacts = "s3://"\n', {}, "[tool.nbmlops] artifacts", "not an artifact store URL"),
        ('artifacts = "  "\n', {}, "[tool.nbmlops] artifacts", "is empty"),
        ("", {"NBMLOPS_ARTIFACTS": "s3://b/./x"}, "NBMLOPS_ARTIFACTS", "'.'"),
        ("", {"NBMLOPS_ARTIFACTS": "s3://bkt/x", "NBMLOPS_ARTIFACTS_OPTIONS": "{bad"},
         "NBMLOPS_ARTIFACTS_OPTIONS", "not valid JSON"),
        ("", {"NBMLOPS_ARTIFACTS": "s3://bkt/x", "NBMLOPS_ARTIFACTS_OPTIONS": "[1]"},
         "NBMLOPS_ARTIFACTS_OPTIONS", "must be a JSON object"),
        ('artifacts_options = "x"\n', {}, "tool.nbmlops.artifacts_options", "must be a table"),
        ('artifacts = "s3://bkt/x"\n\n[tool.nbmlops.artifacts_options]\nsecret = "abc"\n', {},
         "tool.nbmlops.artifacts_options", "holds credentials (['secret'])"),
        ('[tool.nbmlops.artifacts_options]\naws_secret_access_key = "abc"\n', {},
         "tool.nbmlops.artifacts_options", "AWS chain"),
    ],
)
def test_malformed_artifact_settings(tmp_path: Path, toml: str, env: dict[str, str],
                                     setting: str, words: str) -> None:
    root = _project(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        resolve_settings(start=root, env=env)
    assert info.value.setting == setting
    assert words in str(info.value)
    assert "abc" not in str(info.value)  # a credential is named, never repeated
