"""Ray Data batch scoring on a local 2-CPU Ray cluster started here: the Parquet result equals the serial
CLI's result row for row, bad inputs are error rows, URLs score like local paths, and reruns resume."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.isolate import Isolation

from .distributed_fixtures import BAD_NAMES, build_archive, write_manifest, zip_members
from .hostile_reader import hostile_reader

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("fsspec")
pytestmark = pytest.mark.skipif(os.name != "posix", reason="the isolated reader's crash test needs POSIX")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=96 * 2**20,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},  # actors import tests.hostile_reader
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("ray-archive")
    scans = folder / "scans"
    rows = build_archive(scans, n_2d=240, n_3d=24, n_series=3)
    zipped = zip_members(folder / "scans.zip", {"mr001.png": scans / "mr001.png", "dcm": scans / "series0"})
    shutil.copy(scans / "ct000.nii.gz", folder / "segfault.nii.gz")
    extra = [
        {"id": "zip-mr001", "path": f"zip://mr001.png::file://{zipped}"},
        {"id": "file-ct001", "path": f"file://{scans}/ct001.nii.gz"},
        {"id": "zip-series0", "path": f"zip://dcm::file://{zipped}"},
        {"id": "zip-missing", "path": f"zip://nope.png::file://{zipped}"},
        {"id": "segfault", "path": str(folder / "segfault.nii.gz")},
        {"id": "override", "path": str(scans / "ct002.nii.gz"), "modality": "ct", "region": "head"},
    ]
    manifest = write_manifest(folder / "scans.csv", rows + extra)
    serial = CliRunner().invoke(main, ["score", *(r["path"] for r in rows), "--format", "jsonl"])
    assert serial.exit_code == 1
    return {"folder": folder, "rows": rows, "manifest": manifest, "serial": serial}


def _table(output: Path) -> dict[str, dict]:
    rows = pq.read_table(output).to_pylist()
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows), "one row per id"
    return by_id


def _cli_line(path: str, reason: str) -> str:
    """The line ``mediqa score`` prints for a failed input (its ``_fail``)."""
    for prefix in (f"{path}: ", f"{Path(path).name}: "):
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
            break
    return f"error: {path}: {reason}"


def test_ray_results_equal_the_serial_cli_and_resume(cluster, archive: dict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mediqa_sdk.distributed import score_manifest

    output = tmp_path / "results.parquet"
    isolation = Isolation(memory_bytes=2**30, reader=hostile_reader)  # its crash costs one row
    first = score_manifest(str(archive["manifest"]), str(output), workers=2, isolate=isolation)
    got = _table(output)
    rows = archive["rows"]
    assert first.workers == 2 and first.scored == len(got) == len(rows) + 6

    serial = archive["serial"]
    records = [json.loads(line) for line in serial.stdout.splitlines()]
    by_path = {(r["provenance"]["input_path"] if r["status"] == "scored" else r["path"]): r for r in records}
    stderr_lines = set(serial.stderr.splitlines())
    for spec in rows:
        row, ref = got[spec["id"]], by_path.get(spec["path"])
        if ref is None:  # a path the CLI could not even open: only its error line
            assert row["status"] == "error" and _cli_line(spec["path"], row["error"]) in stderr_lines, spec
        elif ref["status"] == "scored":
            assert row["status"] == "ok", (spec, row["error"])
            assert row["score"] == pytest.approx(ref["score"], abs=1e-6)
            assert [s["index"] for s in row["slices"]] == ref["slice_indices"]
            assert [s["score"] for s in row["slices"]] == pytest.approx(ref["slice_scores"], abs=1e-6)
            assert (row["label"], row["modality"], row["grade"]) == (
                ref["label"],
                ref["prompts"]["modality"]["value"],
                ref["grade"],
            )
        else:
            assert (row["status"], row["error"]) == ("error", ref["error"]), spec
    assert {k for k, r in got.items() if r["status"] == "error"} == {*BAD_NAMES, "zip-missing", "segfault"}

    for url_id, local_id in (
        ("zip-mr001", "mr001.png"),
        ("file-ct001", "ct001.nii.gz"),
        ("zip-series0", "series0"),
    ):
        url, local = got[url_id], got[local_id]
        assert url["status"] == "ok" and url["score"] == local["score"] and url["slices"] == local["slices"]
    assert got["zip-series0"]["dim"] == "3d" and got["zip-series0"]["modality_source"] == "dicom"
    assert got["zip-missing"]["error"].endswith(
        "nope.png::file://" + str(archive["folder"] / "scans.zip") + ": no such file or directory"
    )
    assert got["segfault"]["error"].startswith("segfault.nii.gz: ")
    assert "the decoder crashed while reading it (SIGSEGV)" in got["segfault"]["error"]
    assert (got["override"]["modality_source"], got["override"]["region_source"]) == ("override", "override")

    # resume: only the error rows are scored again, and each id keeps one row
    again = score_manifest(str(archive["manifest"]), str(output), workers=2, isolate=isolation)
    after = _table(output)
    assert (again.skipped, again.scored, again.errors) == (len(got) - 6, 6, 6)
    assert {r["run_id"] for r in after.values() if r["status"] == "ok"} == {first.run_id}
    assert {r["run_id"] for r in after.values() if r["status"] == "error"} == {again.run_id}

    # rows deleted from the dataset are scored again, through the command line (default reader: the
    # "segfault" copy is a good scan there); exit code 1 while some rows are errors
    from mediqa_sdk.distributed.dataset import ResultDataset

    dataset = ResultDataset(str(output))
    gone = {"mr002.png", "ct003.nii.gz", "series1", "fundus009.png"}
    holding = {ref.part for key in gone for ref in dataset.index()[key]}
    dataset.drop_rows(dict.fromkeys(holding, gone))
    res = CliRunner().invoke(
        main,
        [
            "score",
            "--manifest",
            str(archive["manifest"]),
            "--engine",
            "ray",
            "-o",
            str(output),
            "--workers",
            "2",
        ],
    )
    assert res.exit_code == 1, res.stderr
    final = _table(output)
    assert len(final) == len(got)
    assert f"{len(gone) + 6} rows scored (5 errors)" in res.stderr
    assert all(final[k]["status"] == "ok" and final[k]["score"] == got[k]["score"] for k in gone)
    assert final["segfault"]["status"] == "ok"
