"""Files that survive a crash mid-write: every file vidnas writes that a later command reads.

A write goes to a temporary name in the same directory (`.NAME.tmp.SUFFIX`, so a library that
reads the format from the suffix, as matplotlib does, still sees it), is flushed to disk (fsync),
and is renamed over the old file; the directory entry is flushed too. A rename within one
filesystem is atomic on POSIX, so a reader, or a process that starts after a SIGKILL, a power cut
or a full disk, finds the old file or the new one, never half of one. A write that fails removes
its temporary file and leaves the old file as it was. One process writes a given file at a time
(the temporary name is fixed, so a write killed mid-way leaves at most one stale temporary, which
the next write of that file replaces).

An append-only log (a cache of results, one JSON line each) cannot be renamed whole on every
line: `append_line` writes a line in one write and flushes it to disk, and `complete_lines` reads
the lines that ended with their newline, cutting off a torn last line (a write killed mid-way), so
nothing half-written is read and the next line starts on a line of its own.

Object storage needs none of this for writing: a put is atomic there (`search.record.storage`
uploads whole files). Reading is another matter: a reader learns an object's size before its bytes,
so `search.record.storage.read_whole` reads until it got one version whole.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    >>> write_text(path, '{"a": 1}')
    >>> with replacing(path) as tmp:
    ...     _ = tmp.write_text('{"a": 2}')
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('{"a": 2}', ['state.json'])
    >>> log = path.parent / "runs.jsonl"
    >>> append_line(log, '{"seed": 0}'); _ = log.write_text(log.read_text() + '{"se')  # a torn append
    >>> complete_lines(log), log.read_text()
    (['{"seed": 0}'], '{"seed": 0}\\n')
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def temporary(path: str | Path) -> Path:
    """The temporary name `replacing` writes `path` under."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp{path.suffix}" if path.suffix else f".{path.name}.tmp")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; when the block ends without an error it is flushed and
    renamed over `path`, otherwise removed."""
    path = Path(path)
    tmp = temporary(path)
    tmp.unlink(missing_ok=True)  # a stale one from a write that was killed
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: the block wrote nothing to the temporary file")
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def append_line(path: str | Path, line: str) -> None:
    """Append `line` and its newline to an append-only log in one write, flushed to disk."""
    with open(path, "ab") as f:
        f.write(line.encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def complete_lines(path: str | Path) -> list[str]:
    """The lines of an append-only log that `append_line` finished; a torn last line (no newline:
    a write killed mid-way) is cut off the file, to be written again."""
    data = Path(path).read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())
    return data[:end].decode().splitlines()


@contextlib.contextmanager
def replacing_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory to fill; when the block ends without an error it takes the
    place of `path`. A new `path` appears in one rename; an existing one is first renamed aside
    (`.NAME.old`) and removed after, so a crash between the two renames leaves the old directory
    there under that name (`recover_dir` puts it back) and never a half-written one at `path`."""
    path = Path(path)
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    recover_dir(path)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                _fsync(child)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync(path.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        recover_dir(path)
        raise


def recover_dir(path: str | Path) -> None:
    """Put back a directory that `replacing_dir` had renamed aside when it was killed."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if old.is_dir() and not path.exists():
        os.replace(old, path)
    elif old.is_dir():
        shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
