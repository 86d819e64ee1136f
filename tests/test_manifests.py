"""Manifest readers of the runtime (shared with training): generic CSV/JSON, LDCTIQAC2023, EyeQ; splits."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mediqa_sdk.manifests import ManifestError, read_manifest, split_entries, stable_fraction

from .synthetic import mr_slice


def _images(folder: Path, n: int, ext: str = "png") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"img{i:02d}.{ext}"
        cv2.imwrite(str(folder / name), (mr_slice(size=24, seed=i) / 4).astype(np.uint8))
        names.append(name)
    return names


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_generic_csv_normalises_with_the_observed_scale_and_keeps_the_raw(tmp_path):
    names = _images(tmp_path / "imgs", 4)
    rows = [
        [f"imgs/{n}", 10 + 10 * i, "MR", "head", "T1", "pat1" if i < 2 else ""] for i, n in enumerate(names)
    ]
    m = read_manifest(
        _csv(tmp_path / "s.csv", ["path", "score", "modality", "region", "type", "group"], rows)
    )
    assert m.name == "s.csv" and m.scale == (10.0, 40.0) and not m.ordinal
    assert [e.score for e in m.entries] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert [e.raw_score for e in m.entries] == [10, 20, 30, 40]
    e = m.entries[0]
    assert (e.modality, e.region, e.type, e.group) == ("mr", "head", "t1", "pat1")
    assert e.path == tmp_path / "imgs" / names[0]
    assert m.entries[3].group == "img03"  # default group: the file name without extension
    # lower raw is better (e.g. an artefact grade): the normalised score is flipped
    flipped = read_manifest(tmp_path / "s.csv", higher_is_better=False, scale=(0, 40))
    assert [e.score for e in flipped.entries] == pytest.approx([0.75, 0.5, 0.25, 0.0])


def test_generic_json_list_and_object_with_scale(tmp_path):
    names = _images(tmp_path, 2)
    (tmp_path / "a.json").write_text(json.dumps([{"path": n, "score": i} for i, n in enumerate(names)]))
    assert [e.score for e in read_manifest(tmp_path / "a.json").entries] == [0.0, 1.0]
    obj = {"scale": [0, 10], "entries": [{"path": names[0], "score": 5, "region": "chest"}]}
    (tmp_path / "b.json").write_text(json.dumps(obj))
    m = read_manifest(tmp_path / "b.json")
    assert m.scale == (0.0, 10.0) and m.entries[0].score == 0.5 and m.entries[0].region == "chest"


def test_ldctiqac_reader(tmp_path):
    names = _images(tmp_path / "image", 3, "tif")
    (tmp_path / "train.json").write_text(json.dumps({names[2]: 4.0, names[0]: 0.0, names[1]: 2.2}))
    m = read_manifest(tmp_path / "train.json")
    assert m.name == "LDCTIQAC2023" and m.scale == (0.0, 4.0)
    assert [e.path.name for e in m.entries] == names  # sorted by name
    assert [e.score for e in m.entries] == pytest.approx([0.0, 0.55, 1.0])
    assert {(e.modality, e.region) for e in m.entries} == {("ct", "abdomen")}


def test_eyeq_reader_is_ordinal_with_good_best(tmp_path):
    _images(tmp_path, 3, "jpeg")
    (tmp_path / "Label_EyeQ_test.csv").write_text(
        ",image,quality,DR_grade\n0,img00.jpeg,0,0\n1,img01.jpeg,1,2\n2,img02.jpeg,2,0\n"
    )
    m = read_manifest(tmp_path / "Label_EyeQ_test.csv")
    assert m.name == "EyeQ" and m.ordinal and not m.higher_is_better
    assert [e.score for e in m.entries] == [1.0, 0.5, 0.0] and [e.raw_score for e in m.entries] == [0, 1, 2]
    assert m.entries[0].type == "color"
    (tmp_path / "bad.csv").write_text("image,quality\nimg00.jpeg,3\n")
    with pytest.raises(ManifestError, match="must be 0, 1 or 2"):
        read_manifest(tmp_path / "bad.csv", kind="eyeq")


def test_bad_manifests_raise_one_line_errors_naming_the_file(tmp_path):
    _images(tmp_path, 1)
    cases = {
        "missing.csv": (
            "path,score\nnope.png,1\nimg00.png,2\n",
            "1 listed file\\(s\\) do not exist: .*nope.png",
        ),
        "nan.csv": ("path,score\nimg00.png,abc\n", "'abc' is not a number"),
        "empty.csv": ("path,score\n", "no entries"),
        "cols.csv": ("file,quality_score\nimg00.png,1\n", "needs 'path' and 'score'"),
        "broken.json": ("[{", "not readable JSON"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ManifestError, match=message) as err:
            read_manifest(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(ManifestError, match="unknown manifest kind"):
        read_manifest(tmp_path / "empty.csv", kind="xml")
    # evaluation keeps going: missing files are listed, not fatal
    m = read_manifest(tmp_path / "missing.csv", check_files=False)
    assert [p.name for p in m.missing()] == ["nope.png"] and len(m.entries) == 2


def test_split_by_group_is_deterministic_and_never_splits_a_patient(tmp_path):
    names = _images(tmp_path, 30)
    rows = [[n, i, f"patient{i // 3}"] for i, n in enumerate(names)]
    m = read_manifest(_csv(tmp_path / "s.csv", ["path", "score", "group"], rows))
    a, b = split_entries(m.entries, seed=3), split_entries(m.entries, seed=3)
    assert a == b and sum(map(len, a.values())) == 30
    groups = {k: {e.group for e in v} for k, v in a.items()}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert split_entries(m.entries, seed=4) != a
    assert 0.0 <= stable_fraction("x") < 1.0 and stable_fraction("x") == stable_fraction("x")


def test_training_imports_the_same_readers_without_torch():
    code = (
        "import sys\n"
        "import mediqa_sdk.manifests as rt, mediqa_sdk.train.manifests as tr\n"
        "assert tr.read_manifest is rt.read_manifest and tr.ManifestEntry is rt.ManifestEntry\n"
        "assert tr.split_entries is rt.split_entries and tr.ManifestError is rt.ManifestError\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
