"""Small file helpers used everywhere: atomic writes (nothing half-written), content hashes, JSON reads, output checks."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .errors import SpcError


def disk_error(exc: BaseException, path: str | Path | None, nbytes: int | None = None) -> SpcError | None:
    """A one-line user error for a write that failed because the disk is full, over quota or read-only (an
    ``OSError``, or a library's wrapped message such as torch's or safetensors'); None for anything else."""
    text = str(exc)
    full = (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        s in text for s in ("No space left on device", "StorageFull", "os error 28", "Disk quota exceeded"))
    if full:
        need = f" (needs about {max(1, nbytes >> 20)} MB)" if nbytes else ""
        where = f" on {Path(path).absolute().parent} to write {Path(path).name}" if path else " on the disk"
        return SpcError(f"no space left{where}{need}: free some space or choose another output folder")
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return SpcError(f"cannot write {path or 'the output'}: the file system is read-only")
    return None


def _replace_from(tmp: Path, path: Path, write, nbytes: int | None = None) -> None:
    """``write(tmp)``, then rename ``tmp`` to ``path``; on failure ``tmp`` is removed and a full disk is one line."""
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        problem = disk_error(exc, path, nbytes) if isinstance(exc, (OSError, RuntimeError, ValueError)) else None
        if problem is not None:
            raise problem from None
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place (nothing half-written)."""
    path = Path(path)
    data = text.encode("utf-8")
    _replace_from(path.with_name(path.name + ".tmp"), path, lambda tmp: tmp.write_bytes(data), len(data))
    return path


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save`` to a temporary file, then rename it into place (nothing half-written)."""
    import torch

    path = Path(path)
    _replace_from(path.with_name(path.name + ".tmp"), path, lambda tmp: torch.save(obj, tmp))


def file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under umask 022): for files a library wrote 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_json(path: str | Path, what: str, kind: type, name: str):
    """The parsed JSON file, which must be a ``kind`` (a JSON ``name``); one user error line where it is missing,
    corrupt or of another kind."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpcError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise SpcError(f"{what} {path} is a folder, not a JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpcError(f"cannot read {what} {path}: {first_line(exc)}") from None
    if not isinstance(data, kind):
        raise SpcError(f"cannot read {what} {path}: not a JSON {name}")
    return data


def read_json(path: str | Path, what: str) -> dict:
    """A JSON object spc reads (metadata, manifest, report, rule); one user error line where it is missing or corrupt."""
    return _load_json(path, what, dict, "object")


def read_json_array(path: str | Path, what: str) -> list:
    """A JSON array spc reads (ONNX Runtime's profiler trace); the same one-line errors as ``read_json``."""
    return _load_json(path, what, list, "array")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name where it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (where a new folder would be created)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | Path) -> Path:
    """Refuse an output folder that is a file or cannot be written, before any long work; creates nothing."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise SpcError(f"output {out} is a file, not a folder")
    base = _nearest_existing(out)
    if not base.is_dir():
        raise SpcError(f"output {out} cannot be created: {base} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".spc-probe.", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SpcError(f"output {out} cannot be written ({base}: {exc.strerror or first_line(exc)})") from None
    return out


def check_output_file(path: str | Path) -> Path:
    """Refuse an output file whose path is a folder or whose folder cannot be written, before any long work."""
    out = Path(path)
    if out.is_dir():
        raise SpcError(f"output {out} is a folder, not a file")
    check_output_dir(out.parent)
    return out


def prepare_out_dir(out: Path, marker: str, overwrite: bool, inputs: "dict[str, str | Path | None] | None" = None) -> None:
    """Refuse an output folder that holds something else or overlaps an input, before any long work starts;
    ``overwrite`` deletes it only where spc wrote it (``remove_output``)."""
    refuse_overlap({"output folder": out}, inputs or {})
    if out.is_file():
        raise SpcError(f"output {out} is a file, not a folder")
    if overwrite:
        remove_output(out, marker)
    if out.is_dir() and any(out.iterdir()) and not spc_wrote(out, marker):
        raise SpcError(f"output folder {out} is not empty and holds no spc run; choose another output folder")
    check_output_dir(out)


def _real(path: str | Path) -> Path:
    """``path`` made absolute with every symlink it passes through followed (it need not exist)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def refuse_overlap(outputs: "dict[str, str | Path | None]", inputs: "dict[str, str | Path | None]") -> None:
    """One user error, before anything is written, where an output is, contains or sits inside an input.

    ``outputs`` and ``inputs`` name what each path is ({"output folder": out}, {"model": src, "data": root});
    None entries and inputs that do not exist on disk (a hub id, a preset) are skipped. Symlinks are followed,
    so a link to the data folder is the data folder."""
    ins = [(what, _real(p)) for what, p in inputs.items() if p is not None and Path(p).expanduser().exists()]
    for out_what, out in outputs.items():
        if out is None:
            continue
        o = _real(out)
        for in_what, i in ins:
            if o == i:
                how = "is"
            elif i in o.parents:
                how = "sits inside"
            elif o in i.parents:
                how = "contains"
            else:
                continue
            raise SpcError(f"{out_what} {out} {how} the {in_what} {i} (an input): choose an output outside it; "
                           "nothing was written")


OUTPUT_MARKER = ".spc-output"  # in every output folder spc creates: --overwrite removes only folders holding it


def spc_wrote(folder: Path, marker: str | None = None) -> bool:
    """True where ``folder`` carries a mark that spc wrote it (its output marker, the recipe's ``marker`` file, or a
    ``.spc-`` work entry): the only folders ``--overwrite`` may delete."""
    if not folder.is_dir():
        return False
    if (folder / OUTPUT_MARKER).exists() or (marker is not None and (folder / marker).exists()):
        return True
    return any(p.name.startswith(".spc-") for p in folder.iterdir())


def mark_output(folder: Path, what: str) -> None:
    """Create ``folder`` (if needed) with spc's output marker in it, naming the command that writes there."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OUTPUT_MARKER
    if not marker.exists():
        atomic_write_text(marker, json.dumps({"written_by": "spc", "command": what}) + "\n")


def remove_output(folder: Path, marker: str | None = None) -> None:
    """``--overwrite``: delete an output folder spc wrote; refuse, in one line, a folder it did not."""
    if folder.is_file():
        raise SpcError(f"output {folder} is a file, not a folder")
    if not folder.exists():
        return
    if any(True for _ in folder.iterdir()) and not spc_wrote(folder, marker):
        raise SpcError(f"--overwrite deletes only a folder spc wrote; {folder} holds no spc output marker "
                       f"({OUTPUT_MARKER}): choose another output folder or empty it yourself")
    shutil.rmtree(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def work_dir(parent: Path, prefix: str) -> Path:
    """A fresh hidden work folder ``parent/.spc-PREFIX-*`` holding its creator's pid; first removes the ones a
    process that no longer runs left (a kill -9 leaves its temporary files behind; a running one's stay)."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f".spc-{prefix}-*"):
        try:
            pid = int((old / "pid").read_text())
        except (OSError, ValueError):
            pid = -1
        if old.is_dir() and not (pid > 0 and _alive(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f".spc-{prefix}-", dir=parent))
    (path / "pid").write_text(str(os.getpid()))
    return path
