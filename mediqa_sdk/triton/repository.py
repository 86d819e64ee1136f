"""Write a Triton model repository holding the registry's classifier and scorer.

Layout (Triton's, one version per model)::

    OUT/<classifier name>/config.pbtxt    OUT/<classifier name>/1/model.onnx
    OUT/<scorer name>/config.pbtxt        OUT/<scorer name>/1/model.onnx
    OUT/mediqa.json                       which model is which, with their registry records

Each graph is the installed one, its sha256 checked against the registry before and after the copy. Other
models already in ``OUT`` are left alone; the two model folders and ``mediqa.json`` are replaced only with
``force``. Each model folder is built beside its final place and then renamed into it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..engine import file_sha256, verified_model_bytes
from ..errors import ModelIntegrityError
from ..registry import ModelRecord, Registry, load_registry, read_registry_json
from ._graph import graph_spec
from .config import TritonOptions, config_text

__all__ = ["MANIFEST_NAME", "ExportedModel", "RepositoryExport", "write_repository"]

MANIFEST_NAME = "mediqa.json"
MANIFEST_FORMAT = "mediqa-triton-repository"


@dataclass(frozen=True)
class ExportedModel:
    """One model written into the repository."""

    task: str
    name: str
    record: ModelRecord
    folder: Path

    @property
    def graph(self) -> Path:
        """``<folder>/1/model.onnx``."""
        return self.folder / "1" / "model.onnx"

    @property
    def config(self) -> Path:
        """``<folder>/config.pbtxt``."""
        return self.folder / "config.pbtxt"


@dataclass(frozen=True)
class RepositoryExport:
    """What :func:`write_repository` wrote."""

    root: Path
    models: tuple[ExportedModel, ...]
    manifest: Path
    options: TritonOptions


def write_repository(
    out_dir: str | Path,
    registry: Registry | str | Path | None = None,
    scorer: str | None = None,
    classifier: str | None = None,
    *,
    max_batch_size: int = 64,
    tensorrt: bool = True,
    fp16: bool = False,
    instances: int = 1,
    kind: str = "gpu",
    max_queue_delay_us: int = 500,
    engine_cache: str = "/tmp/mediqa-tensorrt",
    warmup: bool = True,
    force: bool = False,
) -> RepositoryExport:
    """Write the classifier and the scorer of ``registry`` as a Triton model repository in ``out_dir``.

    Args:
        out_dir: the repository folder (created; may already hold other models).
        registry: a :class:`Registry` or a ``models.json`` path (default: the installed registry).
        scorer, classifier: registry names (default: the registry's defaults).
        max_batch_size, tensorrt, fp16, instances, kind, max_queue_delay_us, engine_cache, warmup: see
            :class:`~mediqa_sdk.triton.config.TritonOptions`.
        force: replace the two model folders and ``mediqa.json`` if they exist.

    Raises:
        FileExistsError: a model folder or ``mediqa.json`` exists and ``force`` is off.
        ModelIntegrityError: a graph is missing or its sha256 differs from the registry (before or after
            the copy).
        UnknownModelError: no such model in the registry.
        ValueError: bad options.
        OSError: ``out_dir`` cannot be written.
    """
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    options = TritonOptions(
        max_batch_size=max_batch_size,
        tensorrt=tensorrt,
        fp16=fp16,
        instances=instances,
        kind=kind,
        max_queue_delay_us=max_queue_delay_us,
        engine_cache=engine_cache,
        warmup=warmup,
    )
    records = {"classifier": reg.get(classifier, "classifier"), "scorer": reg.get(scorer, "scorer")}
    root = Path(out_dir)
    manifest = root / MANIFEST_NAME
    targets = [root / r.name for r in records.values()] + [manifest]
    existing = [p for p in targets if p.exists() or p.is_symlink()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(
            f"{names} already exist{'s' if len(existing) == 1 else ''}; use --force to replace"
        )
    root.mkdir(parents=True, exist_ok=True)
    models = tuple(_write_model(root, task, rec, options) for task, rec in records.items())
    _write_manifest(manifest, reg, models, options)
    return RepositoryExport(root=root, models=models, manifest=manifest, options=options)


def _write_model(root: Path, task: str, record: ModelRecord, options: TritonOptions) -> ExportedModel:
    data = verified_model_bytes(record)
    text = config_text(record, graph_spec(data), options)
    final = root / record.name
    staging = Path(tempfile.mkdtemp(prefix=f".{record.name}.", dir=root))
    try:
        (staging / "1").mkdir()
        graph = staging / "1" / "model.onnx"
        graph.write_bytes(data)
        copied = file_sha256(graph)
        if copied != record.sha256:
            raise ModelIntegrityError(
                f"{graph}: the copy's sha256 {copied[:16]}… differs from the registry's "
                f"{record.sha256[:16]}… for {record.name!r}; check the disk holding {root}"
            )
        (staging / "config.pbtxt").write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; the server may run as another user
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportedModel(task=task, name=record.name, record=record, folder=final)


def _raw_records(reg: Registry) -> dict[str, Any]:
    raw = read_registry_json(reg.path)
    return {str(m.get("name")): m for m in raw.get("models", []) if isinstance(m, dict)}


def _write_manifest(
    path: Path, reg: Registry, models: tuple[ExportedModel, ...], options: TritonOptions
) -> None:
    raw = _raw_records(reg)
    body = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "sdk_version": __version__,
        "registry": str(reg.path),
        "options": asdict(options),
        **{
            m.task: {
                "model_name": m.name,
                "version": "1",
                "sha256": m.record.sha256,
                "record": raw.get(m.record.name, {"name": m.record.name, "sha256": m.record.sha256}),
            }
            for m in models
        },
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
