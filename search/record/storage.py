"""Where a search keeps its state: a local (or shared) directory, or any URI that pyarrow, and so
Ray Tune, accepts (s3://, gs://, hdfs://; query options such as
`?endpoint_override=127.0.0.1:9000&scheme=http` pass through to pyarrow).

With a URI, the whole state lives under STORAGE/NAME: Ray Tune writes its experiment and the
trials' checkpoints there itself (from every node), and the driver keeps its own files (config,
Optuna journal, study name, MO-ASHA's state, results table, MLflow parent id, reports) in a local
working copy that it pushes after every change. `--resume` from anywhere that knows only the URI
pulls them back first. Only the driver writes those files, so the working copy never diverges.

A put replaces an object whole, but a reader learns the size first and reads the bytes after: a
put in between hands it the new object cut to the old size. `read_whole` reads until it got one
version whole, and `pull` writes what it read under a temporary name, renamed when complete, so a
pull beside a running search, or one killed mid-way, never leaves half a file in the working copy.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from search.errors import ConfigError
from search.record.layout import CONFIG_FILE, TUNE_DIR
from spaces import atomic

CACHE_ENV = "VIDNAS_CACHE"  # where working copies of remote searches live (default ~/.cache/vidnas)


def is_uri(location: str) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def working_dir(storage: str, name: str) -> Path:
    """Where a search's files are read and written on this machine: STORAGE/NAME itself, or for a
    URI a working copy under $VIDNAS_CACHE (default ~/.cache/vidnas) named by a digest of it."""
    if not is_uri(storage):
        return Path(str(storage).removeprefix("file://")).expanduser().resolve() / name
    digest = hashlib.sha256(f"{storage}/{name}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vidnas").expanduser().resolve()
    return cache / "searches" / f"{name}-{digest}"


def split_search_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/prefix/NAME?opts -> (s3://bucket/prefix?opts, NAME)."""
    parts = urlsplit(uri)
    parent, _, name = parts.path.rstrip("/").rpartition("/")
    if not name:
        raise ConfigError(f"{uri}: not a search's URI; give STORAGE/NAME, e.g. s3://bucket/searches/demo")
    return f"{parts.scheme}://{parts.netloc}{parent}" + (f"?{parts.query}" if parts.query else ""), name


class SearchStorage:
    """The state of one search at STORAGE/NAME, and its local working directory."""

    def __init__(self, storage: str, name: str) -> None:
        self.storage, self.name = str(storage), name
        self.remote = is_uri(self.storage)
        self.local = working_dir(self.storage, name)
        self._fs: pafs.FileSystem | None = None if self.remote else pafs.LocalFileSystem()
        self._root = "" if self.remote else str(self.local.parent)
        self._pushed: dict[str, tuple[int, int]] = {}  # relative path -> (mtime_ns, size) last pushed

    @property
    def fs(self) -> pafs.FileSystem:
        if self._fs is None:
            try:
                self._fs, self._root = pafs.FileSystem.from_uri(self.storage)
            except (ValueError, OSError) as e:  # pyarrow.lib.ArrowInvalid is a ValueError
                raise ConfigError(f"storage={self.storage!r}: not a storage URI pyarrow can open ({_line(e)}); use "
                                  "a directory or e.g. s3://bucket/prefix") from None
        return self._fs

    @property
    def base(self) -> str:
        """STORAGE/NAME as a path of `fs`."""
        self.fs  # noqa: B018 (resolves the root)
        return f"{self._root.rstrip('/')}/{self.name}"

    def __getstate__(self) -> dict:  # Tune pickles callbacks that hold this; the filesystem is re-made
        return {**self.__dict__, "_fs": None if self.remote else self._fs}

    @property
    def uri(self) -> str:
        """STORAGE/NAME as given (a URI keeps its query options at the end)."""
        if not self.remote:
            return str(self.local)
        parts = urlsplit(self.storage)
        path = f"{parts.path.rstrip('/')}/{self.name}"
        return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")

    def tune_storage(self) -> tuple[str, pafs.FileSystem | None]:
        """Ray Tune's `storage_path` and `storage_filesystem` (the experiment is NAME/tune)."""
        return (self.base, self.fs) if self.remote else (str(self.local), None)

    def tune_path(self) -> str:
        """Where `Tuner.restore` finds the experiment (with `tune_storage()[1]` as its filesystem)."""
        return f"{self.base}/{TUNE_DIR}"

    def has_tune_state(self) -> bool:
        return self.exists(f"{TUNE_DIR}/tuner.pkl")

    def exists(self, relative: str) -> bool:
        return self.fs.get_file_info(f"{self.base}/{relative}").type != pafs.FileType.NotFound

    def pull(self) -> list[str]:
        """Copy the driver's files (everything but Tune's experiment) from the storage into the
        working copy where the storage's is newer or the copy lacks them; the paths copied. A
        copy written after its last push (the driver died before pushing) is kept. Nothing to do
        for a local search."""
        if not self.remote:
            return []
        self.local.mkdir(parents=True, exist_ok=True)
        copied = []
        selector = pafs.FileSelector(self.base, recursive=True, allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            relative = info.path[len(self.base):].lstrip("/")
            if info.type != pafs.FileType.File or relative.split("/")[0] == TUNE_DIR:
                continue
            target = self.local / relative
            if target.exists() and info.mtime is not None and target.stat().st_mtime >= info.mtime.timestamp():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(target, read_whole(self.fs, info.path))
            self._pushed[relative] = _stamp(target)
            copied.append(relative)
        return sorted(copied)

    def push(self) -> list[str]:
        """Copy the working copy's files that changed since they were last pushed (all but
        Tune's experiment, which Tune writes itself) to the storage; the paths copied. Nothing to
        do for a local search."""
        if not self.remote:
            return []
        copied = []
        for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
            relative = path.relative_to(self.local).as_posix()
            if relative.split("/")[0] == TUNE_DIR or self._pushed.get(relative) == _stamp(path):
                continue
            stamp = _stamp(path)
            self.fs.create_dir(f"{self.base}/{relative}".rsplit("/", 1)[0], recursive=True)
            pafs.copy_files(str(path), f"{self.base}/{relative}", source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=self.fs)
            self._pushed[relative] = stamp
            copied.append(relative)
        return copied

    def fetch(self, relative: str, destination: Path) -> Path:
        """A file or directory of the storage (a trial's checkpoint under tune/) as a local path:
        itself for a local search, else copied to `destination`."""
        if not self.remote:
            return self.local / relative
        destination.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(f"{self.base}/{relative}", str(destination), source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem())
        return destination

    def glob_tune(self, pattern_prefix: str) -> list[str]:
        """Relative paths of checkpoint directories under tune/ whose trial directory starts with
        `pattern_prefix` (sorted)."""
        selector = pafs.FileSelector(f"{self.base}/{TUNE_DIR}", recursive=False, allow_not_found=True)
        out = []
        for trial in self.fs.get_file_info(selector):
            name = trial.path.rsplit("/", 1)[-1]
            if trial.type != pafs.FileType.Directory or not name.startswith(pattern_prefix):
                continue
            for item in self.fs.get_file_info(pafs.FileSelector(trial.path, allow_not_found=True)):
                leaf = item.path.rsplit("/", 1)[-1]
                if item.type == pafs.FileType.Directory and leaf.startswith("checkpoint_"):
                    out.append(f"{TUNE_DIR}/{name}/{leaf}")
        return sorted(out)


def storage_of(search_dir: Path) -> SearchStorage:
    """The storage of a search, from its working directory's config (a local search's is the
    directory itself, wherever it was moved)."""
    import yaml

    config = Path(search_dir) / CONFIG_FILE
    data = yaml.safe_load(config.read_text()) if config.is_file() else {}
    if isinstance(data, dict) and is_uri(str(data.get("storage", ""))):
        return SearchStorage(str(data["storage"]), str(data.get("name", Path(search_dir).name)))
    return SearchStorage(str(Path(search_dir).parent), Path(search_dir).name)


def read_whole(fs: pafs.FileSystem, path: str, tries: int = 8) -> bytes:
    """The bytes of one version of a file that another machine may be rewriting: read until the
    size and modification time are the same before and after, and the bytes are that size. (A put
    between the size and the read gives bytes of another size, or a later size or time after.)"""
    for attempt in range(tries):
        before = fs.get_file_info(path)
        if before.type != pafs.FileType.File:
            raise FileNotFoundError(f"{path}: no such file in {fs.type_name} storage")
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read()
        except OSError:  # the object went or shrank between the size and the read
            data = None
        after = fs.get_file_info(path)
        if data is not None and len(data) == before.size == after.size and before.mtime == after.mtime:
            return data
        time.sleep(0.05 * (attempt + 1))
    raise OSError(f"{path}: rewritten during each of {tries} reads; is a search writing it faster than it "
                  "can be read? Try again once it has stopped")


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:200]
