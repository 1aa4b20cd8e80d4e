"""Data snapshots: a copy of the data files and frames a tracked run read, kept with the run,
so reproducing it reads exactly the same data even after a file changed.

Taken when ``%%track --snapshot`` asks, or for every tracked run when ``[tool.nbmlops]
snapshot_max_bytes`` is above 0 (then only what is at most that big), before the cell runs.
The files are those the run's cell and the cells of its slice name as string literals
(the journal's rule, ``pd.read_csv("prices.csv")``, ``open("data/x.parquet")``) and those
given to ``--data``, relative to the kernel's working folder; the frames are the DataFrames,
Series and arrays the cell reads (pickled). Each is a run artifact of kind ``snapshot``
(``snapshot/files/<path>``, ``snapshot/frames/<name>``) in the content-addressed artifact
store: the same bytes are stored once, whichever runs keep them.

:func:`restore` gives the folder a reproduction runs in: the run's own folder when every
snapshotted file is as it was; else a folder beside the reproduction's notebook that links
to everything in the run's folder, with the snapshotted files put back as they were.
"""

from __future__ import annotations

import hashlib
import keyword
import pickle
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from nbmlops import tracking
from nbmlops._types import RunArtifact, RunRecord
from nbmlops.artifacts import check_name
from nbmlops.errors import ArtifactError
from nbmlops.reproduce.journal import code_literals, files_named

if TYPE_CHECKING:
    import ast

    from nbmlops.reproduce.slicing import SlicePlan
    from nbmlops.workspace import Workspace

KIND = "snapshot"
FILES = "snapshot/files/"
FRAMES = "snapshot/frames/"
FRAME_MEDIA_TYPE = "application/vnd.nbmlops.frame+pickle"
_BUF = 1 << 20


def files_read(tree: ast.Module, plan: SlicePlan | None, data: Iterable[str]
               ) -> dict[str, tuple[int, int] | None]:
    """The files the run reads: path -> (size, mtime ns) when the slice's cell that named it
    ran (None: named by the run's own cell or ``--data``, read now)."""
    found: dict[str, tuple[int, int] | None] = {}
    for entry in plan.entries if plan is not None else ():
        found.update(entry.files)
    for path in (*files_named(tree), *(d for d in data if not d.isidentifier())):
        found.setdefault(path, None)
    return found


def take(ws: Workspace, *, files: Mapping[str, tuple[int, int] | None],
         frames: Mapping[str, Any], limit: int | None, cwd: Path
         ) -> tuple[list[RunArtifact], list[str]]:
    """Copy ``files`` (relative to ``cwd``) and ``frames`` into the artifact store, each at
    most ``limit`` bytes (None: any size); the run artifacts, and warnings for what could
    not be kept."""
    kept: list[RunArtifact] = []
    warnings: list[str] = []
    for text, then in files.items():
        path = Path(text)
        full = path if path.is_absolute() else cwd / path
        try:
            st = full.stat()
            rel = full.resolve().relative_to(cwd.resolve()).as_posix()
        except OSError:
            continue  # gone: the journal's data_changed flag says so
        except ValueError:
            warnings.append(f"snapshot: {text} is outside the working folder {cwd}; not kept")
            continue
        if limit is not None and st.st_size > limit:
            continue
        if then is not None and (st.st_size, st.st_mtime_ns) != then:
            warnings.append(f"snapshot: {text} changed since the cell that read it ran; not "
                            "kept (the run is flagged data_changed)")
            continue
        try:
            ref = ws.artifacts.put_file(full)
            kept.append(RunArtifact(name=check_name(FILES + rel), kind=KIND, artifact=ref))
        except (OSError, ArtifactError) as exc:
            warnings.append(f"snapshot: {text} not kept ({exc})")
    for name, value in frames.items():
        if limit is not None and _size_hint(value) > limit:
            continue
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            warnings.append(f"snapshot: frame {name} not kept ({type(exc).__name__}: {exc})")
            continue
        if limit is not None and len(data) > limit:
            continue
        try:
            ref = ws.artifacts.put_bytes(data, media_type=FRAME_MEDIA_TYPE)
            kept.append(RunArtifact(name=check_name(FRAMES + name), kind=KIND, artifact=ref))
        except (OSError, ArtifactError) as exc:
            warnings.append(f"snapshot: frame {name} not kept ({exc})")
    return kept, warnings


def _size_hint(value: Any) -> int:
    """Bytes ``value`` holds in memory, cheaply (before pickling it)."""
    try:
        usage = value.memory_usage(deep=False)
        return int(usage.sum() if hasattr(usage, "sum") else usage)
    except Exception:
        return int(getattr(value, "nbytes", 0))


def frames_read(names: Iterable[str], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The DataFrames, Series and arrays among ``names``."""
    return {n: namespace[n] for n in dict.fromkeys(names)
            if n in namespace and tracking.is_dataset(namespace[n])}


def snapshot_files(run: RunRecord) -> dict[str, str]:
    """The files a run's snapshot holds: relative path -> sha256."""
    return {a.name[len(FILES):]: a.artifact.sha256 for a in run.artifacts
            if a.kind == KIND and a.name.startswith(FILES)}


def _sha256_of(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_BUF):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def restore(ws: Workspace, run: RunRecord, workdir: Path, into: Path
            ) -> tuple[Path, list[str]]:
    """The folder to reproduce ``run`` in, and the snapshotted files put back (see the
    module). ``into`` is made afresh when a file differs."""
    changed = {rel: sha for rel, sha in snapshot_files(run).items()
               if _sha256_of(workdir / rel) != sha}
    if not changed:
        return workdir, []
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    real = {into: workdir}  # folders made for real in ``into``: what they stand for
    for rel, sha in changed.items():
        src, dst = workdir, into
        for part in PurePosixPath(rel).parts[:-1]:
            src, dst = src / part, dst / part
            dst.mkdir(exist_ok=True)
            real[dst] = src
        ws.artifacts.export(sha, into, rel)
    for dst, src in real.items():
        if src.is_dir():
            for child in src.iterdir():
                target = dst / child.name
                if not (target.exists() or target.is_symlink()):
                    target.symlink_to(child.resolve(), target_is_directory=child.is_dir())
    return into, sorted(changed)


def take_snapshot(ws: Workspace, tree: ast.Module, names: Iterable[str],
                  namespace: Mapping[str, Any], plan: SlicePlan | None, *,
                  data: Iterable[str], asked: bool) -> tuple[list[RunArtifact], list[str]]:
    """The snapshot of a tracked cell about to run (``asked``: ``--snapshot``, any size;
    else up to the settings' ``snapshot_max_bytes``): its artifacts and warnings."""
    data = tuple(data)
    limit = None if asked else ws.settings.snapshot_max_bytes
    return take(ws, files=files_read(tree, plan, data),
                frames=frames_read([*names, *data], namespace), limit=limit, cwd=Path.cwd())


def snapshot_frames(run: RunRecord) -> dict[str, RunArtifact]:
    """The frames a run's snapshot holds: name -> its artifact."""
    return {a.name[len(FRAMES):]: a for a in run.artifacts
            if a.kind == KIND and a.name.startswith(FRAMES)
            and a.artifact.media_type == FRAME_MEDIA_TYPE}


# what a string literal names when it is a data file that is gone now
_DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".pq", ".feather",
                  ".arrow", ".orc", ".xlsx", ".xls", ".h5", ".hdf5", ".hdf", ".pkl", ".pickle",
                  ".npy", ".npz", ".gz", ".zip", ".bz2", ".xz", ".zst", ".xml", ".sqlite",
                  ".db")


def in_memory_frames(run: RunRecord, cells: Iterable[str], workdir: Path) -> list[str]:
    """The run's snapshotted frames built in memory: no cell the frame depends on in the
    slice (``cells``: their code, in the order they ran) names a data file (one that is in
    ``workdir`` or the snapshot, or a path with a data file's suffix)."""
    frames = snapshot_frames(run)
    if not frames:
        return []
    kept = set(snapshot_files(run))
    analysed = [code_literals(code) for code in cells]

    def is_file(text: str) -> bool:
        path = Path(text)
        if text in kept or path.suffix.lower() in _DATA_SUFFIXES:
            return True
        try:
            return (path if path.is_absolute() else workdir / path).is_file()
        except (OSError, ValueError):
            return False

    found = []
    for name in frames:
        if not name.isidentifier() or keyword.iskeyword(name):
            continue
        need, from_file = {name}, False
        for reads, binds, literals in reversed(analysed):
            if need & set(binds):
                if any(is_file(text) for text in literals):
                    from_file = True
                    break
                need |= set(reads)
        if not from_file:
            found.append(name)
    return found


def load_frames(ws: Workspace, run: RunRecord, names: Iterable[str]) -> tuple[Any, ...]:
    """The frames ``names`` of the run's snapshot, in order: each read from the artifact
    store and checked against the sha256 the run recorded, unpickled only if it names
    nothing but data types, and refused unless it is a DataFrame, Series or array."""
    from nbmlops.errors import ReproduceError
    from nbmlops.registry import load_data_pickle

    frames = snapshot_frames(run)
    out = []
    for name in names:
        art = frames.get(name)
        if art is None:
            raise ReproduceError(f"run {run.id[:8]} kept no snapshot of the frame {name!r}",
                                 run_id=run.id)
        data = ws.artifacts.read_bytes(art.artifact.sha256)  # checks the bytes' sha256
        if hashlib.sha256(data).hexdigest() != art.artifact.sha256:
            raise ReproduceError(f"the snapshot of frame {name!r} of run {run.id[:8]} does "
                                 "not match the sha256 it recorded; not loaded", run_id=run.id)
        value = load_data_pickle(data, reference=f"the snapshot of frame {name!r} of run "
                                                 f"{run.id[:8]}")
        if not tracking.is_dataset(value):
            raise ReproduceError(f"the snapshot of frame {name!r} of run {run.id[:8]} holds "
                                 f"a {type(value).__name__}, not a frame; not loaded",
                                 run_id=run.id)
        out.append(value)
    return tuple(out)
