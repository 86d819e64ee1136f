"""Manifest scoring without Ray: the manifest reader, URL fetching, resume rules and the serial engine."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.distributed.dataset import RowRef, plan_resume
from mediqa_sdk.distributed.manifest import ScanRequest, is_url, read_scan_manifest
from mediqa_sdk.errors import ScanReadError
from mediqa_sdk.manifests import ManifestError

from .distributed_fixtures import build_archive, write_manifest, zip_members

_FAST = ["--model", "mediqa-scorer-placeholder", "--classifier", "mediqa-classifier-placeholder"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    folder = tmp_path_factory.mktemp("archive")
    return folder, build_archive(folder / "scans", n_2d=6, n_3d=2, n_series=1)


# -- the manifest -------------------------------------------------------------------------------------------


def test_manifest_columns_defaults_and_relative_paths(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "Path,ID,Modality,region,type,series,extra\n"
        "a.png,,CT,,auto,,x\n"
        f"{tmp_path}/b.nii.gz,scan-b,,head,,3,y\n"
        "s3://bucket/c.png,c,,,,,\n"
    )
    a, b, c = read_scan_manifest(manifest)
    assert a == ScanRequest("a.png", str(tmp_path / "a.png"), modality="ct")
    assert b == ScanRequest("scan-b", f"{tmp_path}/b.nii.gz", region="head", series="3")
    assert c.path == "s3://bucket/c.png" and c.overrides() == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("id,file\n1,a.png\n", "has no 'path' column (columns: id, file)"),
        ("path,id\na.png,x\nb.png,y\nc.png,x\n", "duplicate id 'x' in rows 1 and 3"),
        ("path\na.png\nb.png\na.png\n", "duplicate id 'a.png' in rows 1 and 3"),
        ("path,id\n,x\n", "row 1 has an empty path"),
        ("path,id\n", "the manifest has no rows"),
        ("", "the manifest is empty"),
    ],
)
def test_bad_manifests_are_one_line_errors_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text(text)
    with pytest.raises(ManifestError) as err:
        read_scan_manifest(manifest)
    assert str(err.value).startswith(f"{manifest}: ") and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        read_scan_manifest(tmp_path / "nope.csv")


def test_parquet_manifest(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"path": ["/x/a.png", "/x/b.png"], "id": [7, 8], "modality": [None, "MR"]})
    pq.write_table(table, tmp_path / "m.parquet")
    rows = read_scan_manifest(tmp_path / "m.parquet")
    assert [(r.id, r.path, r.modality) for r in rows] == [("7", "/x/a.png", None), ("8", "/x/b.png", "mr")]


def test_is_url() -> None:
    for url in ("s3://b/k.png", "gs://b/k", "file:///x/y.png", "zip://m.png::file:///x.zip", "s3+x://b"):
        assert is_url(url), url
    for path in ("/x/y.png", "rel/y.png", "C:\\scans\\a.png", "weird:name.png"):
        assert not is_url(path), path


# -- fetching URLs ------------------------------------------------------------------------------------------


def test_fetch_keeps_names_and_folders(tmp_path: Path, archive: tuple[Path, list[dict[str, str]]]) -> None:
    pytest.importorskip("fsspec")
    from mediqa_sdk.distributed.fetch import fetch

    scans = archive[0] / "scans"
    zipped = zip_members(tmp_path / "a.zip", {"mr000.png": scans / "mr000.png", "dcm": scans / "series0"})
    (tmp_path / "out1").mkdir()
    (tmp_path / "out2").mkdir()
    one = fetch(f"zip://mr000.png::file://{zipped}", tmp_path / "out1")
    assert one.name == "mr000.png" and one.read_bytes() == (scans / "mr000.png").read_bytes()
    folder = fetch(f"zip://dcm::file://{zipped}", tmp_path / "out2")
    assert folder.is_dir() and len(list(folder.iterdir())) == len(list((scans / "series0").iterdir()))
    with pytest.raises(ScanReadError, match=r"^file:///nope/x.png: no such file or directory$"):
        fetch("file:///nope/x.png", tmp_path)


def test_fetch_without_fsspec_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mediqa_sdk.distributed.fetch import fetch

    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ScanReadError) as err:
        fetch("s3://bucket/a.png", tmp_path)
    assert str(err.value).startswith("s3://bucket/a.png: reading URLs needs fsspec")
    assert 'pip install "mediqa-sdk[ray]"' in str(err.value)


# -- resume rules -------------------------------------------------------------------------------------------


def test_resume_plan_prefers_ok_then_newest() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc)
    index = {
        "done": [RowRef(False, t2, "p2"), RowRef(True, t1, "p1")],  # an ok row beats a newer error
        "failed": [RowRef(False, t1, "p1"), RowRef(False, t2, "p2")],  # scored again; the newest error stays
        "other": [RowRef(False, t1, "p1")],  # not in this manifest: left alone
    }
    plan = plan_resume(index, ["done", "failed", "new"])
    assert plan.done == {"done"}
    assert plan.stale == {"p2": {"done"}, "p1": {"failed"}}
    assert plan.retried == {"failed": ["p2"]}


# -- the serial engine into Parquet -------------------------------------------------------------------------


def _rows(output: Path) -> list[dict]:
    pq = pytest.importorskip("pyarrow.parquet")
    return pq.read_table(output).to_pylist()


def test_local_engine_parquet_resume_and_damaged_parts(
    tmp_path: Path, archive: tuple[Path, list[dict[str, str]]]
) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("fsspec")
    from mediqa_sdk.distributed import score_manifest

    folder, rows = archive
    manifest = write_manifest(tmp_path / "m.csv", rows)
    output = tmp_path / "results.parquet"
    fast = {"model": "mediqa-scorer-placeholder", "classifier": "mediqa-classifier-placeholder"}
    first = score_manifest(str(manifest), str(output), engine="local", block_rows=4, **fast)
    got = {r["id"]: r for r in _rows(output)}
    assert sorted(got) == sorted(r["id"] for r in rows) and first.scored == len(rows)
    bad = {"empty.png", "truncated.nii.gz", "random.png", "missing.png"}
    assert {k for k, r in got.items() if r["status"] == "error"} == bad == {k for k in got if got[k]["error"]}
    assert first.errors == len(bad)
    ok = got["ct000.nii.gz"]
    assert ok["dim"] == "3d" and len(ok["slices"]) == 7 and ok["model"] == "mediqa-scorer-placeholder"
    assert ok["model_sha256"] and ok["providers"] == ["CPUExecutionProvider"] and ok["modality_source"]
    assert got["missing.png"]["error"] == f"{folder / 'scans' / 'missing.png'}: no such file or directory"

    warnings: list[str] = []
    second = score_manifest(str(manifest), str(output), engine="local", warn=warnings.append, **fast)
    after = _rows(output)
    assert (second.skipped, second.scored, second.errors) == (len(rows) - len(bad), len(bad), len(bad))
    assert len(after) == len(rows) and len({r["id"] for r in after}) == len(rows)  # errors superseded
    assert {r["run_id"] for r in after if r["status"] == "ok"} == {first.run_id}
    assert not warnings

    parts = sorted(output.glob("part-*.parquet"))
    parts[0].write_bytes(parts[0].read_bytes()[:100])  # a part a killed copy left half-written
    (output / ".tmp-part-x.parquet").write_bytes(b"partial")
    lost = {r["id"] for r in after} - {r["id"] for r in _rows_except(output, parts[0])}
    third = score_manifest(str(manifest), str(output), engine="local", warn=warnings.append, **fast)
    final = _rows(output)
    assert third.scored == len(lost | bad) and len(final) == len(rows) == len({r["id"] for r in final})
    assert (output / "_quarantine" / parts[0].name).exists() and not (output / ".tmp-part-x.parquet").exists()
    assert any("unreadable" in w and parts[0].name in w for w in warnings)

    fresh = score_manifest(str(manifest), str(output), engine="local", resume=False, **fast)
    assert fresh.scored == len(rows) and len(_rows(output)) == len(rows)


def _rows_except(output: Path, skip: Path) -> list[dict]:
    pq = pytest.importorskip("pyarrow.parquet")
    return [
        r for p in sorted(output.glob("part-*.parquet")) if p != skip for r in pq.read_table(p).to_pylist()
    ]


def test_bad_prompt_in_a_row_is_a_manifest_error(tmp_path: Path) -> None:
    from mediqa_sdk.distributed.pipeline import prepare_requests
    from mediqa_sdk.registry import load_registry

    manifest = write_manifest(tmp_path / "m.csv", [{"path": "a.png"}, {"path": "b.png", "modality": "xray"}])
    vocabulary = load_registry().get(None, "scorer").vocabulary
    with pytest.raises(ManifestError, match=r"m.csv: row 2 \(b.png\): .*xray"):
        prepare_requests(str(manifest), vocabulary)


# -- the command line ---------------------------------------------------------------------------------------


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["score", *args], catch_exceptions=False)


def test_cli_manifest_local_jsonl_matches_paths(
    tmp_path: Path, archive: tuple[Path, list[dict[str, str]]]
) -> None:
    rows = archive[1]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    by_manifest = _invoke("--manifest", str(manifest), "--format", "jsonl", "--no-progress", *_FAST)
    by_paths = _invoke(*(r["path"] for r in rows), "--format", "jsonl", *_FAST)
    assert by_manifest.exit_code == by_paths.exit_code == 1
    # the same records (discovery failures are jsonl records too with a manifest), the same error lines
    import json

    manifest_records = [json.loads(line) for line in by_manifest.stdout.splitlines()]
    path_records = [json.loads(line) for line in by_paths.stdout.splitlines()]
    scored = [(r["input"], r["score"]) for r in manifest_records if r["status"] == "scored"]
    assert scored == [(r["input"], r["score"]) for r in path_records if r["status"] == "scored"]
    errors = sorted(line for line in by_manifest.stderr.splitlines() if line.startswith("error:"))
    assert errors == sorted(line for line in by_paths.stderr.splitlines() if line.startswith("error:"))
    assert len(errors) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "ray"], "--engine ray scores the rows of a manifest"),
        (["--manifest", "M", "--engine", "ray"], "give --output results.parquet"),
        (["--manifest", "M", "a.png"], "give PATHS or --manifest, not both"),
        (["--manifest", "M", "--report", "qc"], "--report does not apply to --manifest"),
        (["--manifest", "M", "--workers", "2"], "--workers and --address apply to --engine ray"),
        ([], "give PATHS to score, or --manifest FILE"),
    ],
)
def test_cli_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    res = _invoke(*[str(tmp_path / "m.csv") if a == "M" else a for a in args])
    assert res.exit_code == 2 and message in res.stderr


def test_cli_bad_manifest_is_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,id\na.png,x\nb.png,x\n")
    res = _invoke("--manifest", str(manifest), "--format", "jsonl")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {manifest}: duplicate id 'x' in rows 1 and 2; ids must be unique (add an 'id' column)"
    ]


def test_output_to_an_fsspec_url(tmp_path: Path, archive: tuple[Path, list[dict[str, str]]]) -> None:
    pytest.importorskip("pyarrow")
    fsspec = pytest.importorskip("fsspec")
    pq = pytest.importorskip("pyarrow.parquet")
    from mediqa_sdk.distributed import score_manifest

    rows = archive[1][:3]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    output = "memory://bucket/results.parquet"
    fast = {"model": "mediqa-scorer-placeholder", "classifier": "mediqa-classifier-placeholder"}
    first = score_manifest(str(manifest), output, engine="local", **fast)
    fs = fsspec.filesystem("memory")
    parts = [p for p in fs.ls("/bucket/results.parquet", detail=False) if p.endswith(".parquet")]
    ids = [i for p in parts for i in pq.read_table(fs.open(p, "rb")).column("id").to_pylist()]
    assert first.scored == 3 and sorted(ids) == sorted(r["id"] for r in rows)
    assert score_manifest(str(manifest), output, engine="local", **fast).scored == 0
    fs.rm("/bucket", recursive=True)


def test_blocks_an_engine_never_returns_become_error_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: tuple[Path, list[dict[str, str]]]
) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("fsspec")
    from mediqa_sdk.distributed import pipeline

    def nothing(*args: object):  # type: ignore[no-untyped-def]  # as if Ray gave up on every block
        yield from ()

    monkeypatch.setattr(pipeline, "_local_blocks", nothing)
    rows = archive[1][:2]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    warnings: list[str] = []
    summary = pipeline.score_manifest(
        str(manifest), str(tmp_path / "r.parquet"), engine="local", warn=warnings.append
    )
    got = _rows(tmp_path / "r.parquet")
    assert (summary.scored, summary.errors) == (2, 2) and [r["status"] for r in got] == ["error", "error"]
    assert all(
        r["error"] == f"{r['path']}: the worker scoring it died repeatedly (Ray gave up on its block)"
        for r in got
    )
    assert warnings == ["2 rows were lost with a worker that kept dying; they are error rows"]


def test_urls_are_fetched_chunk_by_chunk_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archive: tuple[Path, list[dict[str, str]]], assessor
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("fsspec")
    import tempfile

    from mediqa_sdk.distributed.scoring import score_requests

    scans = archive[0] / "scans"
    zipped = zip_members(tmp_path / "a.zip", {"x.png": scans / "mr001.png", "dcm": scans / "series0"})
    requests = [
        ScanRequest("zip", f"zip://x.png::file://{zipped}"),
        ScanRequest("local", str(scans / "mr001.png")),
        ScanRequest("series", f"zip://dcm::file://{zipped}"),
        ScanRequest("gone", f"file://{scans}/gone.png"),
        ScanRequest("file", f"file://{scans}/mr001.png"),
    ]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    scored = score_requests(assessor, requests, batch_size=2)
    assert [s.request.id for s in scored] == ["zip", "local", "series", "gone", "file"]
    scores = {s.request.id: s.outcome.result.score for s in scored if s.outcome.result is not None}
    assert scores["zip"] == scores["local"] == scores["file"] and "series" in scores
    assert str(scored[3].outcome.error) == f"file://{scans}/gone.png: no such file or directory"
    assert scored[0].fetch_seconds > 0 and scored[1].fetch_seconds == 0
    assert list((tmp_path / "tmp").iterdir()) == []  # every temporary copy removed


def test_workers_and_threads_fill_the_cluster_cpus() -> None:
    from mediqa_sdk.distributed._ray import plan_workers

    assert plan_workers(2, None, None) == (2, 1)  # one single-thread actor per CPU
    assert plan_workers(16, 4, None) == (4, 4)
    assert plan_workers(16, 3, None) == (3, 5)
    assert plan_workers(16, None, 4) == (4, 4)
    assert plan_workers(0.5, None, None) == (1, 1)
    assert plan_workers(8, 2, 2) == (2, 2)  # both given: as given
