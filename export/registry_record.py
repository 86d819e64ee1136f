"""Registry records for exported graphs: build the ``models.json`` entry of a model and write it.

A record copies what the runtime needs from the registry's current default record of the same task
(preprocessing, vocabulary, salient-slice rule, output range, physics specs and grades), adds the graph's
sha256 and size, and keeps the training configuration, seed, data and metrics as provenance. Defaults are
switched only on request (:func:`write_record` with ``make_default=True``).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mediqa_sdk.errors import RegistryError
from mediqa_sdk.registry import read_registry_json, registry_path, write_registry_json

__all__ = ["CONTRACT_VERSION", "build_record", "write_record"]

CONTRACT_VERSION = 1
# keys copied from the default record of the same task
_INHERITED = {
    "scorer": (
        "preprocess",
        "vocabulary",
        "salient",
        "output",
        "physics",
        "grades",
        "prompt_warn_confidence",
    ),
    "classifier": ("preprocess", "vocabulary"),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_record(
    graph: str | Path,
    *,
    name: str,
    version: str,
    config: Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    description: str = "",
    license: str = "Apache-2.0",
    registry_file: str | Path | None = None,
) -> dict[str, Any]:
    """The registry record of an exported graph.

    Args:
        graph: the ONNX file (its name becomes ``file``; it must sit in the registry's ``models/`` folder
            when the record is used).
        name, version: registry name and model version.
        config: the model configuration (``cfg.to_dict()``); its ``task`` picks scorer or classifier.
        training: provenance of training: data sources, seed, epochs, checkpoint, ... (free-form JSON).
        metrics: evaluation results and parity figures (free-form JSON).
        registry_file: registry whose default record supplies preprocessing etc. (default: the SDK's).

    Raises:
        RegistryError: the configuration's prompt length or physics count disagree with the vocabulary.
    """
    graph = Path(graph)
    registry_file = Path(registry_file) if registry_file else registry_path()
    raw = read_registry_json(registry_file)
    task = str(config["task"])
    default_name = raw.get("defaults", {}).get(task)
    base = next((m for m in raw.get("models", []) if m.get("name") == default_name), None)
    if base is None:
        raise RegistryError(f"{registry_file}: no default {task} record to copy preprocessing from")
    record: dict[str, Any] = {
        "name": name,
        "task": task,
        "version": version,
        "contract_version": CONTRACT_VERSION,
        "file": graph.name,
        "sha256": _sha256(graph),
        "size": graph.stat().st_size,
        "description": description or f"MedIQA {task} ({config.get('name')})",
        "license": license,
        "placeholder": False,
    }
    record.update({k: copy.deepcopy(base[k]) for k in _INHERITED[task] if k in base})
    if config.get("gray_channels"):  # trained on other grey channels than the default scorer's
        record["preprocess"]["gray_channels"] = list(config["gray_channels"])
    vocab = record["vocabulary"]
    if task == "scorer":
        p = sum(len(vocab[k]) for k in ("dim", "modality", "region", "type"))
        if int(config["prompt_dim"]) != p:
            raise RegistryError(f"{name}: model prompt length {config['prompt_dim']} != vocabulary's {p}")
        if int(config["n_physics"]) != len(record.get("physics", [])):
            raise RegistryError(
                f"{name}: model has {config['n_physics']} physics outputs, record has "
                f"{len(record.get('physics', []))} specs"
            )
    else:
        for key, size in (("modality", "n_modality"), ("region", "n_region"), ("type", "n_type")):
            if int(config[size]) != len(vocab[key]):
                raise RegistryError(
                    f"{name}: classifier {key} head has {config[size]} classes, vocabulary {len(vocab[key])}"
                )
    training = dict(training or {})
    record["provenance"] = {
        "built_by": "export/onnx_export.py",
        "exported": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "trained_on": training.pop("trained_on", None) or training.pop("data", []),
        "config": dict(config),
        "training": training,
    }
    record["metrics"] = dict(metrics or {})
    return json.loads(json.dumps(record))  # plain JSON types only


def write_record(
    record: Mapping[str, Any], registry_file: str | Path | None = None, *, make_default: bool = False
) -> Path:
    """Insert or replace (by name) ``record`` in ``registry_file``; validate the result before writing.

    Returns:
        The registry file written.
    """
    registry_file = Path(registry_file) if registry_file else registry_path()
    raw = read_registry_json(registry_file)
    models = [m for m in raw.get("models", []) if m.get("name") != record["name"]]
    models.append(dict(record))
    raw["models"] = models
    if make_default:
        raw.setdefault("defaults", {})[record["task"]] = record["name"]
    return write_registry_json(raw, registry_file)  # validated first, like load_registry
