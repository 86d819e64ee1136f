"""Training plumbing: runtime-identical tensors, manifests, metrics, and a loop that learns and resumes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mediqa_sdk.train.data import Sample
from mediqa_sdk.train.loop import TrainSettings, train
from mediqa_sdk.train.manifests import ManifestError, read_manifest, split_entries
from mediqa_sdk.train.metrics import krcc, plcc, rmse, srcc
from mediqa_sdk.train.tensors import classifier_arrays, scorer_arrays
from scipy import stats

from ..synthetic import ct_volume, mr_slice


def _sample(image: np.ndarray, dim: str, modality: str, region: str, type_: str, mos: float = 1.0) -> Sample:
    return Sample(
        image=image,
        clean=image,
        dim=dim,
        modality=modality,
        region=region,
        type=type_,
        physics={"mr_field_strength": 0.5} if modality == "mr" else {"ct_dose": 0.7},
        physics_raw={},
        physics_valid={"mr_field_strength": modality == "mr", "ct_dose": modality == "ct"},
        pseudo_mos=mos,
        source_id="test",
        split="train",
        degradation="clean",
        param=float("nan"),
        unit="",
        pixel_mm=1.0,
    )


def test_training_tensors_equal_what_the_runtime_feeds(assessor, registry):
    record = registry.get(None, "scorer")
    img = mr_slice()
    arrays = scorer_arrays(_sample(img, "2d", "mr", "head", "t1"), record)
    _, feeds = assessor.network_inputs(img, modality="mr", region="head", type="t1")
    np.testing.assert_array_equal(arrays.slices, feeds[0][1])
    np.testing.assert_array_equal(arrays.prompt, feeds[0][2])
    np.testing.assert_array_equal(arrays.physics_mask, [False, True])

    vol = ct_volume(n_slices=13)[3:10]  # 7 body slices: the runtime's salient slices are all 7
    arrays = scorer_arrays(_sample(vol, "3d", "ct", "chest", "lung_window"), record)
    _, feeds = assessor.network_inputs(vol, modality="ct", region="chest", type="lung_window")
    assert arrays.slices.shape == (7, 3, 224, 224)
    np.testing.assert_array_equal(arrays.slices, feeds[0][1])


def test_neighbour_channels_in_training_equal_what_the_runtime_feeds(registry, tmp_path):
    from dataclasses import replace

    from mediqa_sdk.export.heldout import sample_volume

    from mediqa_sdk import Assessor
    from mediqa_sdk.registry import read_registry_json, registry_path

    through = ("scored", "scored_prev", "scored_next")
    raw = read_registry_json(registry_path())
    for rec in raw["models"]:
        if rec["name"] == raw["defaults"]["scorer"]:
            rec["preprocess"]["gray_channels"] = list(through)
    (tmp_path / "models.json").write_text(json.dumps(raw))
    base = registry.get(None, "scorer")
    record = replace(base, preprocess=replace(base.preprocess, gray_channels=through))
    vol = ct_volume(n_slices=27)[3:24]  # 21 body slices: the salient ones are the middle of each three
    sample = replace(
        _sample(vol[1::3], "3d", "ct", "chest", "lung_window"),
        neighbours=np.stack([vol[0::3], vol[2::3]], axis=1),
    )
    arrays = scorer_arrays(sample, record)
    assessor = Assessor(registry=tmp_path / "models.json", device="cpu")
    np.testing.assert_array_equal(sample_volume(sample), vol)
    _, feeds = assessor.network_inputs(vol, modality="ct", region="chest", type="lung_window")
    np.testing.assert_array_equal(arrays.slices, feeds[0][1])
    assert not np.array_equal(arrays.slices[:, 0], arrays.slices[:, 1])


def test_classifier_labels_and_ct_type_mask(registry):
    record = registry.get(None, "classifier")
    rng = np.random.default_rng(0)
    a = classifier_arrays(_sample(ct_volume(n_slices=7), "3d", "ct", "chest", "lung_window"), record, rng)
    assert a.image.shape == (1, 3, 224, 224) and not a.type_valid
    assert record.vocabulary.region[a.region] == "chest"
    b = classifier_arrays(_sample(mr_slice(), "2d", "mr", "head", "flair"), record, rng)
    assert b.type_valid and record.vocabulary.type[b.type] == "flair"


def test_metrics_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = x + rng.normal(scale=0.5, size=50)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert rmse(np.array([0.0, 1.0]), np.array([1.0, 1.0])) == pytest.approx(np.sqrt(0.5))
    assert srcc(np.ones(5), y[:5]) == 0.0  # undefined -> 0, never nan


def _images(folder: Path, n: int) -> list[str]:
    import cv2

    names = []
    for i in range(n):
        name = f"img{i:02d}.png"
        cv2.imwrite(str(folder / name), (mr_slice(size=32, seed=i) / 4).astype(np.uint8))
        names.append(name)
    return names


def test_generic_csv_and_json_manifests(tmp_path):
    names = _images(tmp_path, 4)
    with (tmp_path / "scores.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "modality"])
        for i, n in enumerate(names):
            w.writerow([n, 1 + i, "MR"])
    m = read_manifest(tmp_path / "scores.csv")
    assert m.scale == (1.0, 4.0) and [e.score for e in m.entries] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert m.entries[0].modality == "mr" and m.entries[0].path == tmp_path / names[0]
    (tmp_path / "m.json").write_text(
        json.dumps({"scale": [0, 10], "entries": [{"path": names[0], "score": 5}]})
    )
    assert read_manifest(tmp_path / "m.json").entries[0].score == 0.5
    (tmp_path / "bad.csv").write_text("path,score\nmissing.png,1\n")
    with pytest.raises(ManifestError, match="do not exist"):
        read_manifest(tmp_path / "bad.csv")


def test_ldctiqac_and_eyeq_readers(tmp_path):
    (tmp_path / "image").mkdir()
    names = _images(tmp_path / "image", 3)
    (tmp_path / "train.json").write_text(json.dumps({names[0]: 0.0, names[1]: 2.2, names[2]: 4.0}))
    m = read_manifest(tmp_path / "train.json")
    assert m.name == "LDCTIQAC2023" and m.scale == (0.0, 4.0)
    assert [e.score for e in m.entries] == pytest.approx([0.0, 0.55, 1.0])
    assert {e.modality for e in m.entries} == {"ct"}
    _images(tmp_path, 3)
    (tmp_path / "Label_EyeQ_test.csv").write_text(
        ",image,quality,DR_grade\n0,img00.png,0,0\n1,img01.png,1,2\n2,img02.png,2,0\n"
    )
    e = read_manifest(tmp_path / "Label_EyeQ_test.csv")
    assert e.ordinal and [x.score for x in e.entries] == [1.0, 0.5, 0.0]


def test_split_is_by_group_and_deterministic(tmp_path):
    names = _images(tmp_path, 20)
    with (tmp_path / "s.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "group"])
        for i, n in enumerate(names):
            w.writerow([n, i, f"patient{i // 2}"])  # two images per patient
    m = read_manifest(tmp_path / "s.csv")
    a, b = split_entries(m.entries, seed=3), split_entries(m.entries, seed=3)
    assert a == b
    groups = {k: {e.group for e in v} for k, v in a.items()}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])


def _toy_batches(seed: int):
    g = torch.Generator().manual_seed(seed)
    while True:
        level = torch.rand(4, generator=g)
        slices = (level.view(4, 1, 1, 1, 1) * 2 - 1).expand(4, 1, 3, 224, 224).contiguous()
        slices = slices + 0.05 * torch.randn(slices.shape, generator=g)
        prompt = torch.zeros(4, 21)
        prompt[:, [0, 3, 5, 16]] = 1.0
        yield {
            "slices": slices,
            "prompt": prompt,
            "score": level,
            "physics": torch.zeros(4, 2),
            "physics_mask": torch.zeros(4, 2, dtype=torch.bool),
        }


def test_loop_learns_keeps_the_best_and_resumes(tmp_path):
    val = [b for _, b in zip(range(3), _toy_batches(99), strict=False)]
    settings = TrainSettings(
        stage="finetune",
        out_dir=str(tmp_path),
        config="tiny",
        minutes=5,
        max_steps=40,
        lr=2e-3,
        warmup_steps=5,
        eval_every=20,
        bf16=False,
        threads=1,
    )
    report = train(settings, _toy_batches(0), val)
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [20, 40]
    assert report.best_metric > 0.8  # brightness is easy to rank
    assert float(rows[-1]["train_loss"]) < 0.1
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    more = TrainSettings(**{**settings.__dict__, "max_steps": 60, "resume": True})
    assert train(more, _toy_batches(1), val).steps == 60
    # the last step is a checkpoint too: the weights of step 60, whichever step was best
    from mediqa_sdk.train.model import load_checkpoint

    last, provenance = load_checkpoint(tmp_path / "last.pt")
    assert provenance["step"] == 60 and provenance["settings"]["max_steps"] == 60
    state = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(v, state[k]) for k, v in last.state_dict().items())


def test_eta_is_the_sooner_of_the_time_budget_and_the_step_cap(tmp_path):
    from mediqa_sdk.train.loop import _eta

    capped = TrainSettings(stage="finetune", out_dir=str(tmp_path), minutes=600, max_steps=1000)
    assert _eta(60.0, 100, capped) == pytest.approx(540.0)  # 900 steps at 0.6 s, long before 600 min
    timed = TrainSettings(stage="finetune", out_dir=str(tmp_path), minutes=5, max_steps=100000)
    assert _eta(60.0, 100, timed) == pytest.approx(240.0)  # the budget ends first
    assert _eta(400.0, 100, timed) == 0.0


def test_a_file_that_is_not_a_model_checkpoint_is_refused_in_one_line(tmp_path):
    from mediqa_sdk.train.model import CheckpointError, load_checkpoint

    resume_only = tmp_path / "last.pt"  # what a run's last.pt held before it carried the configuration
    torch.save({"model": {}, "optim": {}, "step": 3}, resume_only)
    with pytest.raises(CheckpointError, match=r"last\.pt: not a model checkpoint \(no model configuration"):
        load_checkpoint(resume_only)
    garbage = tmp_path / "notes.pt"
    garbage.write_text("not torch")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a readable torch checkpoint"):
        load_checkpoint(garbage)


def test_rank_loss_only_compares_versions_of_one_source():
    from mediqa_sdk.train.loop import rank_loss

    target = torch.tensor([0.9, 0.5, 0.2, 0.9])
    group = torch.tensor([1, 1, 1, 2])
    right = rank_loss(torch.tensor([0.8, 0.5, 0.1, 0.0]), target, group)
    wrong = rank_loss(torch.tensor([0.1, 0.5, 0.8, 0.9]), target, group)
    assert right < 0.05 < wrong
    # the lone sample of group 2 pairs with nothing, so its score does not matter
    assert rank_loss(torch.tensor([0.8, 0.5, 0.1, 5.0]), target, group) == pytest.approx(float(right))
    assert rank_loss(torch.tensor([0.3, 0.3]), torch.tensor([0.5, 0.5]), torch.tensor([1, 1])) == 0.0


def test_within_source_srcc_ignores_the_offset_between_sources():
    from mediqa_sdk.train.loop import _within_group_srcc

    true = np.array([1.0, 0.6, 0.3, 1.0, 0.7, 0.2])
    pred = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])  # each source ranked right, sources offset
    groups = np.array([1, 1, 1, 2, 2, 2])
    assert _within_group_srcc(pred, true, groups) == pytest.approx(1.0)
    assert srcc(pred, true) < 0.5  # the pooled view punishes the offset
    assert _within_group_srcc(pred, true, np.arange(6)) is None  # no group of 3


def test_within_group_srcc_weighs_each_family_alike():
    from mediqa_sdk.train.loop import _within_group_srcc

    true = np.tile([1.0, 0.5, 0.0], 3)
    pred = np.array([0.9, 0.5, 0.1, 0.8, 0.4, 0.2, 0.1, 0.5, 0.9])  # two series right, one backwards
    groups = np.repeat([1, 2, 3], 3)
    assert _within_group_srcc(pred, true, groups) == pytest.approx(1 / 3)
    families = np.repeat([7, 7, 8], 3)  # the backwards series is the only one of its family
    assert _within_group_srcc(pred, true, groups, families) == pytest.approx(0.0)


def test_heldout_batches_are_the_level_series_of_the_real_scans(real_data, registry):
    from mediqa_sdk.export.heldout import LEVELS
    from mediqa_sdk.train.data.catalogue import real_sources
    from mediqa_sdk.train.data.splits import load_splits
    from mediqa_sdk.train.loop import _within_group_srcc
    from mediqa_sdk.train.streams import heldout_batches

    record = registry.get(None, "scorer")
    batches = heldout_batches("val", record, modalities=("fundus",))
    score = torch.cat([b["score"] for b in batches]).numpy()
    groups = torch.cat([b["group"] for b in batches]).numpy()
    n_families = sum(f.startswith("fundus") for f in LEVELS)
    photos = [s for s in real_sources() if s.modality == "fundus" and load_splits()[s.source_id] == "val"]
    assert len(photos) == 3
    assert len(np.unique(groups)) == len(photos) * n_families  # one series per family and photo
    assert sorted(set(score.round(2))) == [0.0, 0.25, 0.5, 0.75, 1.0]  # clean 1, severity 4 -> 0
    assert len({int(x) for b in batches for x in b["family"]}) == 1
    assert batches[0]["slices"].shape[1:] == (1, 3, record.preprocess.size, record.preprocess.size)
    # a scorer that reads the severity off the label ranks every series right
    assert _within_group_srcc(score, score, groups) == pytest.approx(1.0)


def test_data_engine_constants_match_the_registry(registry):
    from mediqa_sdk.train.data import labels

    record = registry.get(None, "scorer")
    for spec in record.physics:
        mine = labels.PHYSICS[spec.name]
        assert (mine.unit, mine.mapping, mine.lo, mine.hi, mine.modality) == (
            spec.unit,
            spec.mapping,
            spec.lo,
            spec.hi,
            spec.modality,
        )
    vocab = record.vocabulary
    assert {
        "dim": vocab.dim,
        "modality": vocab.modality,
        "region": vocab.region,
        "type": vocab.type,
    } == labels.VOCAB
    for name, (center, width) in record.preprocess.ct_windows.items():
        assert tuple(map(float, labels.CT_WINDOWS[name])) == (center, width)


def test_paired_blocks_hold_versions_of_one_content_clean_first():
    from mediqa_sdk.train.data.generator import iter_samples
    from mediqa_sdk.train.streams import CLEAN_MARGIN, collate_scorer, content_key

    samples = list(iter_samples("val", "2d", seed=3, n=8, samples_per_source=4, paired_fraction=1.0))
    for block in (samples[:4], samples[4:]):
        assert len({content_key(s) for s in block}) == 1 and len({s.type for s in block}) == 1
        assert block[0].degradation == "clean" and any(s.degradation != "clean" for s in block[1:])
        np.testing.assert_array_equal(block[0].clean, block[1].clean)  # the same slices
    unpaired = list(iter_samples("test", "2d", seed=3, n=8, samples_per_source=8, modalities=["ct"]))
    assert len({s.slice_indices for s in unpaired}) > 1
    # the ranking key puts the clean version above every degraded one, even one with pseudo-MOS 1.0
    mild = samples[1].__class__(**{**samples[1].__dict__, "pseudo_mos": 1.0})
    batch = collate_scorer([samples[0], mild], _registry_scorer(), by_content=True)
    assert batch["group"][0] == batch["group"][1]
    # by content, two slices of one source are different groups; by source (unpaired streams) one group
    other = unpaired[0].__class__(
        **{**unpaired[0].__dict__, "slice_indices": (unpaired[0].slice_indices[0] + 1,)}
    )
    assert (
        len(set(collate_scorer([unpaired[0], other], _registry_scorer(), by_content=True)["group"].tolist()))
        == 2
    )
    by_source = collate_scorer([unpaired[0], other], _registry_scorer())
    assert len(set(by_source["group"].tolist())) == 1
    assert by_source["rank"].tolist() == by_source["score"].tolist()  # the unpaired recipe: no margin
    assert float(batch["score"][1]) == pytest.approx(1.0)
    assert float(batch["rank"][0] - batch["rank"][1]) == pytest.approx(CLEAN_MARGIN)


def test_series_blocks_change_only_the_severity_of_one_fault():
    from mediqa_sdk.train.data.generator import iter_samples

    kw = {"paired_fraction": 1.0, "series_fraction": 1.0}
    samples = list(iter_samples("val", "2d", seed=5, n=12, samples_per_source=6, **kw))
    for block in (samples[:6], samples[6:]):
        assert block[0].degradation == "clean"
        assert len({s.degradation for s in block[1:]}) == 1 and len({s.param for s in block[1:]}) == 5
        np.testing.assert_array_equal(block[0].clean, block[1].clean)

    def residual_corr(series: float) -> float:  # how alike the noise of two versions is
        kw = {"paired_fraction": 1.0, "series_fraction": series, "clean_fraction": 0.0}
        block = list(iter_samples("val", "2d", seed=5, n=8, families=["mr_field_strength"], **kw))
        r = [(s.image - s.clean).ravel() for s in block[1:]]
        return float(np.median([np.corrcoef(r[0], q)[0, 1] for q in r[1:]]))

    assert residual_corr(1.0) > 0.8  # one draw of the noise, scaled by the severity
    assert residual_corr(0.0) < 0.3  # paired blocks without series: a new draw per version


def _registry_scorer():
    from mediqa_sdk.registry import load_registry

    return load_registry().get(None, "scorer")


def test_finetune_loss_keeps_the_physics_term_only_when_asked():
    from mediqa_sdk.train.loop import _loss
    from mediqa_sdk.train.model import build_model, scorer_config

    torch.manual_seed(0)
    model = build_model(scorer_config("tiny")).eval()
    batch = next(iter(_toy_batches(0)))
    batch["physics_mask"][:, 0] = True
    batch["physics"][:, 0] = 5.0  # far from any estimate, so the physics term is large
    plain = _loss(model, batch, "finetune")
    kept = _loss(model, batch, "finetune", physics_weight=0.5)
    physics_only = _loss(model, batch, "pretrain")
    assert float(kept - plain) == pytest.approx(0.5 * float(physics_only), rel=1e-4)
