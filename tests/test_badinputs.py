"""The bad-input corpus (``tests/badinputs``): every case does what ``expected.csv`` says, through one CLI
batch and through the Python API, with one-line messages that name the file, and never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.errors import MediqaError, MultipleSeriesError

from .badinputs.make_corpus import BUILDERS, Expectation, build_corpus, load_expectations

EXPECTATIONS = load_expectations()
_CASE = re.compile(r"\b(c\d\d-[a-z0-9-]+)")
_UNRELIABLE = ("image is constant", "no slice has enough foreground")
# the tiny placeholder graphs: what is tested here is reading, flagging and reporting, not the score itself
_FAST = ("--model", "mediqa-scorer-placeholder", "--classifier", "mediqa-classifier-placeholder")
_ROOT = os.name == "posix" and os.geteuid() == 0  # root reads a chmod-0 file: the refusal is simulated
# what hostile_os simulates in this process (a worker process would not see it)
_SIMULATED_IN_PROCESS = {"c57-compressed-without-codec"} | ({"c54-unreadable-file"} if _ROOT else set())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("badinputs") / "corpus")


@pytest.fixture(scope="module")
def assessor():  # type: ignore[no-untyped-def]
    from mediqa_sdk import Assessor

    return Assessor(_FAST[1], classifier=_FAST[3], device="cpu")


@pytest.fixture()
def hostile_os(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the corpus cannot write as a file: a missing codec, and (as root) a file the OS will not read."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    decoder = get_decoder(RLELossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg", "pylibjpeg-rle")})
    if _ROOT:
        real_open = Path.open

        def refusing_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            if self.name == "locked.nii.gz":
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "open", refusing_open)


def _case_of(text: str) -> str:
    found = _CASE.search(text)
    assert found and found.group(1) in BUILDERS, f"no corpus case named in {text!r}"
    return found.group(1)


def _names_the_input(exp: Expectation, target: Path, message: str) -> bool:
    return target.name in message or exp.case in message


def _check_result(exp: Expectation, record: dict) -> None:  # type: ignore[type-arg]
    assert exp.expect in ("scored", "scored-with-warning"), f"{exp.case}: scored, expected {exp.expect}"
    if exp.expect == "scored-with-warning":
        assert any(exp.detail in w for w in record["warnings"]), f"{exp.case}: {record['warnings']}"
    if any(w in exp.detail for w in _UNRELIABLE):  # never a confident score for nothing to judge
        assert record["reliable"] is False and record["flagged"] is True, exp.case
    assert 0.0 <= record["score"] <= 1.0


def test_the_corpus_is_large_and_every_case_has_an_expectation() -> None:
    assert len(EXPECTATIONS) >= 40
    assert [e.case for e in EXPECTATIONS] == sorted(BUILDERS)
    assert {e.expect for e in EXPECTATIONS} == {"error", "scored", "scored-with-warning"}
    assert all(e.detail for e in EXPECTATIONS if e.expect != "scored")


def _check_cli_batch(args: list[str], corpus: dict[str, Path], cases: set[str], tmp_path: Path) -> None:
    """Run ``mediqa score`` once over ``cases`` and check every expectation from its stderr and jsonl."""
    out = tmp_path / "scores.jsonl"
    targets = [str(corpus[c]) for c in sorted(cases)]
    res = CliRunner().invoke(main, ["score", *_FAST, *args, "--format", "jsonl", "-o", str(out), *targets])
    assert res.exit_code == 1, res.output  # some inputs failed, the batch went on
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and "Traceback" not in res.stderr

    errors: dict[str, list[str]] = {}
    for line in res.stderr.splitlines():
        assert line.startswith("error: "), f"stray stderr line: {line!r}"
        errors.setdefault(_case_of(line), []).append(line)
    scored: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for line in out.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["status"] == "scored":
            scored.setdefault(_case_of(record["provenance"]["input_path"]), []).append(record)
        else:
            assert _case_of(record["path"]) in errors  # an error record mirrors its stderr line

    for exp in EXPECTATIONS:
        if exp.case not in cases:
            continue
        target = corpus[exp.case]
        if exp.expect == "error":
            lines = errors.get(exp.case, [])
            assert len(lines) == exp.outcomes and exp.case not in scored, (exp.case, lines)
            for line in lines:
                assert exp.detail in line and _names_the_input(exp, target, line), (exp, line)
        else:
            assert exp.case not in errors, errors.get(exp.case)
            records = scored.get(exp.case, [])
            assert len(records) == exp.outcomes, (exp.case, len(records))
            for record in records:
                _check_result(exp, record)


def test_one_cli_batch_meets_every_expectation(corpus: dict[str, Path], tmp_path: Path) -> None:
    """The batch as users run it: isolated reader on (the default for several inputs)."""
    _check_cli_batch(["--recursive"], corpus, set(corpus) - _SIMULATED_IN_PROCESS, tmp_path)


def test_simulated_cases_in_a_batch_without_isolation(
    corpus: dict[str, Path], hostile_os: None, tmp_path: Path
) -> None:
    """A missing codec (and, as root, an unreadable file) are simulated in this process: read them here."""
    cases = {*_SIMULATED_IN_PROCESS, "c54-unreadable-file", "c70-good-nifti"} & set(corpus)
    _check_cli_batch(["--recursive", "--no-isolate"], corpus, cases, tmp_path)


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=[e.case for e in EXPECTATIONS])
def test_each_case_through_the_api(
    exp: Expectation, corpus: dict[str, Path], hostile_os: None, assessor
) -> None:  # type: ignore[no-untyped-def]
    if exp.case not in corpus:
        pytest.skip(f"{exp.case}: this operating system cannot make it")
    target = corpus[exp.case]
    outcomes = list(assessor.iter_score([target], recursive=True))
    assert len(outcomes) == exp.outcomes
    for outcome in outcomes:
        if exp.expect == "error":
            assert outcome.result is None and isinstance(outcome.error, MediqaError)
            message = str(outcome.error)
            assert "\n" not in message and exp.detail in message, message
            assert _names_the_input(exp, target, message), message
        else:
            assert outcome.error is None, str(outcome.error)
            _check_result(exp, outcome.result.to_dict())

    if exp.api == "skip":
        return
    if exp.api == "multiple-series":
        with pytest.raises(MultipleSeriesError):
            assessor.score(target)
    elif exp.expect == "error":
        with pytest.raises(MediqaError, match=re.escape(exp.detail)):
            assessor.score(target)
    else:
        _check_result(exp, assessor.score(target).to_dict())


def test_verbose_shows_the_traceback_of_a_failure(corpus: dict[str, Path]) -> None:
    res = CliRunner().invoke(main, ["score", *_FAST, "--verbose", str(corpus["c04-truncated-dcm-pixels"])])
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_a_real_process_writes_only_the_error_lines_on_stderr(corpus: dict[str, Path]) -> None:
    """OpenCV, libtiff and pydicom write to the process's stderr directly (past click's runner): nothing of
    theirs may show, only one line per failed input."""
    cases = [
        "c04-truncated-dcm-pixels",
        "c62-truncated-png",
        "c63-truncated-jpeg",
        "c73-truncated-tiff",
        "c74-dicom-transfer-syntax-lies",
        "c70-good-nifti",
    ]
    command = [sys.executable, "-m", "mediqa_sdk.cli", "score", *_FAST, "--no-isolate", "--format", "csv"]
    done = subprocess.run(
        [*command, *(str(corpus[c]) for c in cases)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines), done.stderr
