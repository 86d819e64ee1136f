"""Fetching URL inputs (``s3://``, ``gs://``, ``zip://...::file://...``) to local temporary copies (fsspec).

A file keeps its name (so the format detection, labels and error messages are those of the local file); a
folder (a DICOM series) is fetched recursively under its own name. The caller owns the temporary folder and
removes it after scoring.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..errors import MissingDependencyError, ScanReadError
from ._deps import EXTRA_HINT

__all__ = ["fetch"]


def fetch(url: str, folder: Path) -> Path:
    """Copy ``url`` (a file or a folder) into ``folder``, under its own name, and return the local path.

    Raises:
        ScanReadError: fsspec (or the package of the URL's protocol, e.g. s3fs) is not installed, the URL does
            not exist, or the copy failed; one line that starts with the URL.
    """
    try:
        import fsspec
    except ImportError as err:
        raise ScanReadError(f"{url}: reading URLs needs fsspec ({err}): {EXTRA_HINT}") from err
    try:
        fs, remote = fsspec.core.url_to_fs(url)
    except (ImportError, MissingDependencyError) as err:  # "Install s3fs to access S3"
        raise ScanReadError(f"{url}: {' '.join(str(err).split())}") from err
    except Exception as err:  # a malformed URL or unknown protocol
        raise ScanReadError(f"{url}: not a URL fsspec can open ({type(err).__name__}: {err})") from err
    remote = remote.rstrip("/") or remote
    name = posixpath.basename(remote) or "input"
    target = folder / name
    try:
        if not fs.exists(remote):
            raise ScanReadError(f"{url}: no such file or directory")
        if fs.isdir(remote):
            fs.get(remote + "/", str(target) + "/", recursive=True)
            target.mkdir(exist_ok=True)  # an empty remote folder is still this input's folder
        else:
            fs.get(remote, str(target))
    except ScanReadError:
        raise
    except FileNotFoundError as err:
        raise ScanReadError(f"{url}: no such file or directory") from err
    except Exception as err:  # network, permission, damaged archive: this input's error, never the batch's
        text = " ".join(str(err).split())[:160] or type(err).__name__
        raise ScanReadError(f"{url}: could not be fetched ({type(err).__name__}: {text})") from err
    return target
