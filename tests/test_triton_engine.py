"""`Assessor(engine="triton://...")` against a stand-in Triton server serving an exported repository."""

from __future__ import annotations

import json
import shutil
import socket
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk import Assessor
from mediqa_sdk.cli import main
from mediqa_sdk.errors import InferenceServerError, MissingDependencyError, ModelIntegrityError
from mediqa_sdk.triton import TritonSession, parse_triton_url, write_repository

from .conftest import REPO

pytest.importorskip("tritonclient.grpc", reason="the [triton] extra is not installed")
from .triton_standin import serve  # needs tritonclient and grpcio

EXAMPLES = [REPO / "examples" / "data" / "head_ct.nii.gz", REPO / "examples" / "data" / "retina.jpg"]
MAX_BATCH = 4  # below the 7 slices of a volume: the classifier's rows go in chunks


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    return write_repository(tmp_path_factory.mktemp("triton") / "repo", max_batch_size=MAX_BATCH, kind="cpu")


@pytest.fixture(scope="module")
def server(repository):
    with serve(repository.root) as (address, servicer):
        yield address, servicer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_triton_scores_equal_local_scores_and_name_the_server(server, assessor):
    address, servicer = server
    remote = Assessor(engine=f"triton://{address}")
    for path in EXAMPLES:
        local, served = assessor.score(path), remote.score(path)
        assert served.slice_indices == local.slice_indices
        assert {k: p.value for k, p in served.prompts.items()} == {
            k: p.value for k, p in local.prompts.items()
        }
        assert abs(served.score - local.score) < 1e-5
        np.testing.assert_allclose(served.slice_scores, local.slice_scores, atol=1e-5)
        np.testing.assert_allclose(served.slice_weights, local.slice_weights, atol=1e-5)
        np.testing.assert_allclose(
            [p.value for p in served.physics], [p.value for p in local.physics], rtol=1e-4
        )
        prov = served.provenance
        assert prov.providers == (f"triton:grpc://{address}",) and prov.device == "triton"
        assert prov.scorer.sha256 == remote.scorer.sha256 == local.provenance.scorer.sha256
        assert prov.classifier is not None and prov.classifier.sha256 == remote.classifier.sha256
    assert servicer.batches and max(b for _, b in servicer.batches) <= MAX_BATCH
    assert (remote.classifier.name, 3) in servicer.batches  # 7 slices of the CT: 4 + 3 rows


def test_batches_of_scans_score_as_single_scans(server, tmp_path):
    address, _ = server
    remote = Assessor(engine=f"triton://{address}")
    paths = []
    for k in range(2):
        for example in EXAMPLES:
            copy = tmp_path / f"{k}-{example.name}"
            copy.write_bytes(example.read_bytes())
            paths.append(copy)
    singles = [remote.score(p).score for p in paths]
    batched = [r.score for r in remote.score_many(paths, batch_size=4)]
    np.testing.assert_allclose(batched, singles, atol=1e-6)


def test_a_server_running_another_graph_is_refused(repository, tmp_path):
    record = repository.models[1].record
    altered = tmp_path / "repo"
    shutil.copytree(repository.root, altered)
    text = (altered / record.name / "config.pbtxt").read_text()
    assert record.sha256 in text
    (altered / record.name / "config.pbtxt").write_text(text.replace(record.sha256, "0" * 64))
    with serve(altered) as (address, _):
        remote = Assessor(engine=f"triton://{address}")
        with pytest.raises(ModelIntegrityError) as err:
            remote.score(EXAMPLES[1])
    message = str(err.value)
    assert "\n" not in message and record.name in message and f"triton://{address}" in message
    assert record.sha256[:16] in message and "0" * 16 in message


def test_a_config_without_the_sha256_is_refused(repository, tmp_path):
    record = repository.models[1].record
    altered = tmp_path / "repo"
    shutil.copytree(repository.root, altered)
    path = altered / record.name / "config.pbtxt"
    path.write_text("".join(ln for ln in path.read_text().splitlines(True) if "mediqa_sha256" not in ln))
    with serve(altered) as (address, _):
        session = TritonSession(record, address)
        with pytest.raises(ModelIntegrityError, match="has no mediqa_sha256"):
            session.ensure()
        assert session.providers == ()


def test_no_server_is_one_line_naming_the_url():
    url = f"triton://127.0.0.1:{_free_port()}"
    remote = Assessor(engine=url)
    with pytest.raises(InferenceServerError) as err:
        remote.check_engine()
    assert "\n" not in str(err.value) and url in str(err.value) and "unreachable" in str(err.value)


def test_cli_scores_through_triton(server):
    address, _ = server
    res = CliRunner().invoke(main, ["score", "--triton", address, "--format", "json", str(EXAMPLES[1])])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    assert row["status"] == "scored" and row["provenance"]["providers"] == [f"triton:grpc://{address}"]


def test_cli_reports_a_missing_server_once_and_bad_urls_as_usage():
    runner = CliRunner()
    url = f"triton://127.0.0.1:{_free_port()}"
    res = runner.invoke(main, ["score", "--triton", url, str(EXAMPLES[1]), str(EXAMPLES[0])])
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ") and url in res.stderr
    for args in (["--triton", "http://h:8001"], ["--triton", "h:8001", "--device", "cpu"]):
        res = runner.invoke(main, ["score", *args, str(EXAMPLES[1])])
        assert res.exit_code == 2 and "Traceback" not in res.output


def test_engine_urls():
    assert parse_triton_url("triton://gpu-box") == "gpu-box:8001"
    assert parse_triton_url("triton://10.0.0.2:9001") == "10.0.0.2:9001"
    assert parse_triton_url("triton://[::1]:8001") == "[::1]:8001"
    for bad in ("onnx", "grpc://h:8001", "triton://h:port", "triton://h:8001/models"):
        with pytest.raises(ValueError):
            parse_triton_url(bad)
    with pytest.raises(ValueError, match="onnxruntime"):
        Assessor(engine="tensorrt")
    with pytest.raises(ValueError, match="device"):
        Assessor(engine="triton://h:8001", device="cuda")


def test_without_tritonclient_the_error_says_what_to_install(monkeypatch, registry):
    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)  # import now raises ImportError
    session = TritonSession(registry.get(None, "scorer"), "127.0.0.1:1")
    with pytest.raises(MissingDependencyError, match=r'pip install "mediqa-sdk\[triton\]"'):
        session.ensure()
