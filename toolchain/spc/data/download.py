"""Fetching public data sets where there is network; one clear line where there is none."""

from __future__ import annotations

import shutil
import tarfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from ..errors import SpcError
from ..net import reachable
from ..progress import make_progress

SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"


def download_speech_commands(dest: Path, url: str = SPEECH_COMMANDS_URL) -> Path:
    """Download and unpack Speech Commands v0.02 into ``dest`` (skipped where already complete)."""
    marker = dest / ".spc-complete"
    if marker.is_file():
        return dest
    if not reachable(url):
        raise SpcError(f"cannot reach {urlparse(url).hostname} to download Speech Commands; "
                       "copy the archive here by other means and unpack it into a folder")
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / ".speech_commands_v0.02.tar.gz.partial"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp, open(archive, "wb") as f, make_progress() as prog:
            task = prog.add_task("downloading", total=int(resp.headers.get("Content-Length", 0)) or None, info="")
            while chunk := resp.read(1 << 20):
                f.write(chunk)
                prog.advance(task, len(chunk))
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except OSError as exc:
        raise SpcError(f"download of Speech Commands failed: {exc}") from None
    finally:
        archive.unlink(missing_ok=True)
    marker.write_text(url)
    shutil.rmtree(dest / "__MACOSX", ignore_errors=True)
    return dest
