"""``mediqa train classifier|pretrain|finetune|interpolate``: the committed recipes, one command each.

The default models are trained by::

    mediqa train classifier --out runs/classifier --minutes 20
    mediqa train pretrain   --out runs/pretrain   --minutes 60
    mediqa train finetune   --out runs/finetune   --init runs/pretrain/best.pt --minutes 60
    mediqa export --scorer runs/finetune/best.pt --classifier runs/classifier/best.pt

``finetune --data MANIFEST`` fine-tunes on a user's expert scores instead of the engine's pseudo-MOS.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import click

from mediqa_sdk.registry import GRAY_RECIPES

from .precision import PRECISIONS, choose_precision

__all__ = ["train_group"]


def _say(line: str) -> None:
    click.echo(line, err=True)


def _common(f):
    f = click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False),
        required=True,
        help="Run folder: checkpoints (best.pt, last.pt), log.csv, settings.json.",
    )(f)
    f = click.option("--minutes", type=float, default=60.0, show_default=True, help="Wall-clock budget.")(f)
    f = click.option("--max-steps", type=int, default=100_000, show_default=True)(f)
    f = click.option("--lr", type=float, default=3e-4, show_default=True)(f)
    f = click.option("--batch-size", type=int, default=16, show_default=True, help="2D images per batch.")(f)
    f = click.option(
        "--p3d",
        type=click.FloatRange(0.0, 1.0),
        default=0.3,
        show_default=True,
        help="Share of engine batches that are 3D (2 volumes of 7 salient slices each).",
    )(f)
    f = click.option("--eval-every", type=int, default=200, show_default=True, help="Steps between evals.")(f)
    f = click.option("--patience", type=int, default=6, show_default=True, help="Evals without gain.")(f)
    f = click.option("--seed", type=int, default=0, show_default=True)(f)
    f = click.option("--threads", type=int, default=2, show_default=True, help="torch threads.")(f)
    f = click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default="auto",
        show_default=True,
        help="bf16 autocast or fp32; auto times both on this CPU and takes bf16 only where it is faster.",
    )(f)
    f = click.option("--fp32", is_flag=True, help="Same as --precision fp32.")(f)
    f = click.option("--resume", is_flag=True, help="Continue from OUT/last.pt.")(f)
    f = click.option("--val-2d", type=int, default=192, show_default=True, help="2D validation samples.")(f)
    return click.option("--val-3d", type=int, default=32, show_default=True, help="3D validation samples.")(f)


def _run(
    stage: str,
    config: str,
    init: str | None,
    data: str | None,
    paired: float = 0.0,
    series: float = 0.0,
    gray_channels: tuple[str, ...] = (),
    **kw,
) -> None:
    import torch
    from torch.utils.data import DataLoader

    from mediqa_sdk.registry import load_registry

    from .data.generator import NOISE_FLOOR_HU
    from .data.splits import load_splits
    from .loop import TrainSettings, train
    from .model.global_context import NoTrainableError
    from .streams import EngineBatches, ManifestBatches, StreamSpec, fixed_batches, heldout_batches

    precision = choose_precision("fp32" if kw["fp32"] else kw["precision"])
    heldout = kw.get("select") == "heldout"  # validate on the real level series of the val split
    floor_hu: tuple[float, float] = kw.get("ct_noise_floor_hu") or NOISE_FLOOR_HU  # not a classifier option
    click.echo(precision.describe(), err=True)
    settings = TrainSettings(
        stage=stage,
        out_dir=kw["out_dir"],
        config=config,
        init=init,
        minutes=kw["minutes"],
        max_steps=kw["max_steps"],
        lr=kw["lr"],
        eval_every=kw["eval_every"],
        patience=kw["patience"],
        seed=kw["seed"],
        bf16=precision.bf16,
        threads=kw["threads"],
        resume=kw["resume"],
        data=data,
        rank_weight=float(kw.get("rank_weight", 0.0)),
        physics_weight=float(kw.get("physics_weight", 0.0)),
        extra=({"paired": paired} if paired else {})
        | ({"series": series} if series else {})
        | ({"gray_channels": list(gray_channels)} if gray_channels else {})
        | ({"select": "heldout"} if heldout else {})
        | ({"augment": True} if kw.get("augment") else {})
        | ({"ct_resolution": True} if kw.get("ct_resolution") else {})
        | ({"phantom_weights": dict(kw["phantom_weights"])} if kw.get("phantom_weights") else {})
        | ({"family_weights": dict(kw["family_weights"])} if kw.get("family_weights") else {})
        | ({"global_context": True} if kw.get("global_context") else {})
        | ({"context_quadrants": True} if kw.get("context_quadrants") else {})
        | ({"train_only": list(kw["train_only"])} if kw.get("train_only") else {})
        | (
            {"ct_noise_floor": kw["ct_noise_floor"], "ct_noise_floor_hu": list(floor_hu)}
            if kw.get("ct_noise_floor")
            else {}
        )
        | {"p3d": kw["p3d"]},
    )
    registry = load_registry()
    task = "classifier" if stage == "classifier" else "scorer"
    named = init is not None and not Path(init).is_file() and init in registry.models
    record = registry.models[init] if named else registry.get(None, task)  # a named scorer: its own record
    channels = gray_channels or _checkpoint_channels(init)
    if channels:  # the model is trained on other grey channels than the default scorer's
        record = replace(record, preprocess=replace(record.preprocess, gray_channels=tuple(channels)))
    if data:
        from .manifests import read_manifest, split_entries

        manifest = read_manifest(data)
        parts = split_entries(manifest.entries, kw["seed"])
        _say(
            f"{manifest.name}: {len(manifest.entries)} entries, scale {manifest.scale}; "
            f"train {len(parts['train'])}, val {len(parts['val'])}, test {len(parts['test'])}"
        )
        stream = ManifestBatches(parts["train"], kw["batch_size"], kw["seed"], record=record)
        val = list(
            ManifestBatches(
                parts["val"] or parts["train"][:8], kw["batch_size"], kw["seed"], loop=False, record=record
            )
        )
    else:
        bs, seed = kw["batch_size"], kw["seed"]
        spec = StreamSpec(
            task=task,
            split="train",
            batch_size=bs,
            seed=seed,
            paired_fraction=paired,
            series_fraction=series,
            p3d=kw["p3d"],
            augment=bool(kw.get("augment")),
            ct_noise_floor=float(kw.get("ct_noise_floor") or 0.0),
            ct_noise_floor_hu=floor_hu,
            ct_resolution=bool(kw.get("ct_resolution")),
            phantom_weights=tuple(kw.get("phantom_weights") or ()),
            family_weights=tuple(kw.get("family_weights") or ()),
        )
        stream = EngineBatches(spec, record)
        # a paired run validates on versions of one content, the view of the held-out level series
        val_spec = StreamSpec(
            task=task, split="val", batch_size=bs, seed=10_000 + seed, paired_fraction=float(paired > 0)
        )
        n_3d = 0 if stage == "classifier" else kw["val_3d"]
        kind = "-paired" if paired else ""
        sources = ",".join(sorted(k for k, v in load_splits().items() if v == "val"))
        # a new split, other grey channels or a changed data engine (a fault, a label) make a new set
        tag = hashlib.sha256(
            (sources + "|" + ",".join(record.preprocess.gray_channels) + "|" + _engine_digest()).encode()
        ).hexdigest()[:8]
        name = (
            f".val-heldout-{tag}.pt"
            if heldout
            else f".val-v2-{task}{kind}-{kw['val_2d']}-{n_3d}-{val_spec.seed}-{tag}.pt"
        )
        cache = Path(kw["out_dir"]).parent / name
        if cache.is_file():
            val = torch.load(cache, weights_only=True)
            _say(f"validation set: {len(val)} batches from {cache}")
        else:
            _say("building the validation set ...")
            if heldout:
                val = heldout_batches("val", record)
            else:
                val = fixed_batches(val_spec, record, kw["val_2d"], n_3d)
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(val, cache)
    loader = DataLoader(stream, batch_size=None, num_workers=1, prefetch_factor=4, persistent_workers=True)
    torch.manual_seed(kw["seed"])
    try:
        report = train(settings, loader, val, log=_say)
    except NoTrainableError as err:
        sys.exit(f"error: --train-only: {err}")
    _say(
        f"done: {report.steps} steps in {report.seconds / 60:.1f} min; best metric {report.best_metric:.4f} "
        f"at step {report.best_step} -> {report.best_path}"
    )


def _engine_sources() -> list[Path]:
    """The files whose change makes a cached validation set stale: the data engine's source (faults, labels,
    phantoms, splits) and the held-out series' levels."""
    from ..export import heldout

    root = Path(__file__).parent / "data"
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".csv", ".json") and p.is_file())
    return [*files, Path(heldout.__file__)]


def _engine_digest() -> str:
    """sha256 over :func:`_engine_sources` (names and bytes), part of a cached validation set's name."""
    digest = hashlib.sha256()
    for path in _engine_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _checkpoint_channels(init: str | None) -> tuple[str, ...]:
    """The grey channel recipes a checkpoint was trained on (empty: the registry default's, or not a file)."""
    if not init or not Path(init).is_file():
        return ()
    import torch

    raw = torch.load(init, map_location="cpu", weights_only=True).get("config", {})
    return tuple(raw.get("gray_channels") or ())


def _check_train_only(prefixes: tuple[str, ...], context: bool) -> None:
    """Refuse, before the validation set is built, prefixes that name no part of a scorer."""
    from .model import build_model, scorer_config
    from .model.global_context import CONTEXT_PREFIX, NoTrainableError, freeze_except

    if not context and any(p.startswith(CONTEXT_PREFIX) for p in prefixes):
        sys.exit(f"error: --train-only {CONTEXT_PREFIX} needs --global-context (the branch it trains)")
    try:  # every preset has the same parts; the smallest is quick to build
        freeze_except(build_model(scorer_config("tiny", global_context=True)), prefixes)
    except NoTrainableError as err:
        sys.exit(f"error: --train-only: {err}")


def _check_init(init: str) -> None:
    """Exit with a one-line error unless ``init`` is a model checkpoint or a scorer of the registry."""
    if Path(init).is_file():
        from .model import CheckpointError, load_checkpoint

        try:
            load_checkpoint(init)
        except CheckpointError as err:
            sys.exit(f"error: --init {err}")
        return
    from mediqa_sdk.registry import load_registry

    record = load_registry().models.get(init)
    if record is None or record.task != "scorer":
        sys.exit(f"error: --init {init}: neither a checkpoint file nor a scorer in the registry")


@click.group(name="train")
def train_group() -> None:
    """Train the prompt classifier and the MedIQA scorer (needs the [train] extra)."""


@train_group.command()
@click.option("--config", default="cnn-small", show_default=True, help="Classifier preset.")
@_common
def classifier(config: str, **kw) -> None:
    """Train the prompt classifier on the data engine's labelled slices."""
    _run("classifier", config, None, None, **kw)


def _gray_channels_option(f):
    return click.option(
        "--gray-channels",
        default=None,
        help="Grey-image channel recipes, comma-separated (e.g. scored,scored_prev,scored_next: the slices "
        "before and after each salient slice as through-plane evidence); default: the registry scorer's.",
    )(f)


def _engine_example_options(f):
    """What the data engine's examples look like: ``--augment``, ``--ct-noise-floor``, ``--ct-resolution``,
    ``--phantom-weights``, ``--family-weights``."""
    f = click.option(
        "--phantom-weights",
        default=None,
        callback=_weights_parser("check_phantom_weights", "ct_head=3", "KIND"),
        help="Draw some phantom kinds more often within their modality, e.g. ct_head=3 (a CT phantom is a "
        "head three times as often as each other CT kind); unnamed kinds weigh 1.",
    )(f)
    f = click.option(
        "--family-weights",
        default=None,
        callback=_weights_parser("check_family_weights", "mr_bias_field=3", "FAMILY"),
        help="Draw some degradation families more often within their modality, e.g. mr_bias_field=3 (a "
        "degraded MR example is a bias field three times as often as each other MR family); unnamed "
        "families weigh 1.",
    )(f)
    f = click.option(
        "--ct-resolution",
        is_flag=True,
        help="Also degrade CT by in-plane blur (a softer reconstruction kernel, FWHM 1-6 mm; the opt-in "
        "family ct_resolution, not in mediqa heldout), so that smoothing away a real scan's grain reads as a "
        "loss.",
    )(f)
    f = click.option(
        "--ct-noise-floor",
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        help="Share of CT phantoms first given the noise of a routine scan (--ct-noise-floor-hu; the "
        "engine's dose model, labelled with the matching dose) instead of staying noise-free.",
    )(f)
    f = click.option(
        "--ct-noise-floor-hu",
        default=None,
        callback=_parse_hu_range,
        help="Range LOW,HIGH (HU in the body, drawn log-uniformly) of that noise; default 1,8, the span of "
        "the real training CTs (1.1-6.9 HU by bench/ct_noise_levels.py).",
    )(f)
    return click.option(
        "--augment",
        is_flag=True,
        help="Show each engine example in a random one of the 8 orientations of the square (90-degree turns, "
        "mirror), so the few real scans cannot simply be recognised.",
    )(f)


def _parse_hu_range(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> tuple[float, float] | None:
    """``LOW,HIGH`` in HU, ``0 < LOW <= HIGH``; ``None`` when not given."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH in HU (e.g. 1,4); got {text!r}") from None
    if not 0 < lo <= hi:
        raise click.BadParameter(f"expected 0 < LOW <= HIGH; got {text!r}")
    return lo, hi


def _weights_parser(check: str, example: str, what: str = "NAME"):
    """A click callback reading ``NAME=W[,NAME=W...]`` (``what`` names ``NAME`` in errors), checked by
    the data engine's function ``check`` (imported when the option is given); ``None`` when not given."""

    def parse(
        ctx: click.Context, param: click.Parameter, text: str | None
    ) -> tuple[tuple[str, float], ...] | None:
        if text is None:
            return None
        pairs: list[tuple[str, float]] = []
        for item in text.split(","):
            name, _, weight = item.partition("=")
            try:
                pairs.append((name.strip(), float(weight)))
            except ValueError:
                raise click.BadParameter(
                    f"expected {what}=W[,{what}=W] (e.g. {example}); got {text!r}"
                ) from None
        from .data import generator

        try:
            getattr(generator, check)(dict(pairs))
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
        return tuple(pairs)

    return parse


def _check_noise_floor(kw: dict) -> None:
    """A floor range without the floor would change nothing: refuse it in one line."""
    if kw.get("ct_noise_floor_hu") and not kw.get("ct_noise_floor"):
        sys.exit("error: --ct-noise-floor-hu sets the noise of --ct-noise-floor P; give that too")


def _parse_channels(text: str | None) -> tuple[str, ...]:
    """``--gray-channels`` as a tuple (empty when not given); exits with a one-line error when malformed."""
    channels = tuple(c.strip() for c in text.split(",")) if text else ()
    if channels and (len(channels) != 3 or not set(channels) <= set(GRAY_RECIPES)):
        sys.exit(f"error: --gray-channels {text}: name 3 of {', '.join(GRAY_RECIPES)}")
    return channels


@train_group.command()
@click.option("--config", default="cnn-pyramid", show_default=True, help="Scorer preset.")
@_gray_channels_option
@_engine_example_options
@_common
def pretrain(config: str, gray_channels: str | None, **kw) -> None:
    """Upstream stage: regress the physical parameters (CT dose, MR field strength) with MSE."""
    _check_noise_floor(kw)
    _run("pretrain", config, None, None, gray_channels=_parse_channels(gray_channels), **kw)


@train_group.command()
@click.option(
    "--init",
    default=None,
    help="Start from this checkpoint (the pre-trained upstream weights) or from a registry scorer by name "
    "(e.g. mediqa-scorer-cnn: its weights are read back from the shipped ONNX graph).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Manifest of expert scores (CSV/JSON, LDCTIQAC2023 train.json, EyeQ CSV).",
)
@click.option("--config", default="cnn-pyramid", show_default=True, help="Scorer preset (without --init).")
@click.option(
    "--rank-weight",
    type=float,
    default=1.0,
    show_default=True,
    help="Weight of the within-content ranking loss (0: plain MSE as in the paper).",
)
@click.option(
    "--physics-weight",
    type=float,
    default=0.0,
    show_default=True,
    help="Weight of the physics loss kept from pre-training (engine data only).",
)
@click.option(
    "--paired",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of engine blocks made of versions of one content (same slices, clean first).",
)
@click.option(
    "--series",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of paired blocks that are one degradation at several severities (one draw of the fault).",
)
@click.option(
    "--select",
    type=click.Choice(["engine", "heldout"]),
    default="engine",
    show_default=True,
    help="What validation (early stopping, best.pt) measures: the engine's validation blocks, or the level "
    "series of the validation split's real scans (mediqa heldout --split val, in torch).",
)
@click.option(
    "--global-context",
    is_flag=True,
    help="Give the scorer the slice-level context term (the spread of its tokens over the slice added to "
    "every patch score; it starts at 0, so a trained --init scores as before until it learns).",
)
@click.option(
    "--context-quadrants",
    is_flag=True,
    help="The context term also reads the mean of each quadrant of the token grid less the slice mean (a "
    "coarse layout; implies --global-context; new inputs start at 0, so a trained --init scores as before).",
)
@click.option(
    "--train-only",
    callback=lambda _ctx, _param, text: (
        tuple(p.strip() for p in text.split(",") if p.strip()) if text else ()
    ),
    default=None,
    metavar="PREFIX[,PREFIX]",
    help="Train only the parameters whose names start with these prefixes and freeze the rest "
    "(e.g. context_branch).",
)
@_gray_channels_option
@_engine_example_options
@_common
def finetune(
    init: str | None,
    data: str | None,
    config: str,
    rank_weight: float,
    physics_weight: float,
    paired: float,
    series: float,
    select: str,
    gray_channels: str | None,
    **kw,
) -> None:
    """Downstream stage: quality scores with MSE, loading the upstream weights."""
    _check_noise_floor(kw)
    channels = _parse_channels(gray_channels)
    if select == "heldout" and data is not None:
        sys.exit("error: --select heldout validates on the data engine's real scans, not on --data")
    if kw.get("augment") and data is not None:
        sys.exit("error: --augment turns the data engine's examples, not those of --data")
    if kw.get("ct_noise_floor") and data is not None:
        sys.exit("error: --ct-noise-floor changes the data engine's CT phantoms, not the images of --data")
    if kw.get("ct_resolution") and data is not None:
        sys.exit("error: --ct-resolution adds a data engine degradation, not one of the images of --data")
    if kw.get("phantom_weights") and data is not None:
        sys.exit("error: --phantom-weights weighs the data engine's phantoms, not the images of --data")
    if kw.get("family_weights") and data is not None:
        sys.exit("error: --family-weights weighs the data engine's degradations, not the images of --data")
    if kw.get("train_only"):
        _check_train_only(kw["train_only"], bool(kw.get("global_context") or kw.get("context_quadrants")))
    if init is None:
        _say("note: no --init; fine-tuning from random weights (no physics pre-training)")
    else:
        _check_init(init)
    if data is not None and not Path(data).is_file():
        sys.exit(f"error: {data}: manifest not found")
    if series and not paired:
        sys.exit("error: --series needs --paired (a series is a kind of paired block)")
    _run(
        "finetune",
        config,
        init,
        data,
        paired,
        series,
        channels,
        rank_weight=rank_weight,
        physics_weight=physics_weight,
        select=select,
        **kw,
    )


@train_group.command()
@click.option(
    "--init",
    required=True,
    help="The model the fine-tune started from: a checkpoint or a registry scorer by name.",
)
@click.option(
    "--finetuned",
    required=True,
    type=click.Path(dir_okay=False),
    help="The fine-tuned checkpoint (a run's best.pt).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Weight of the fine-tune: 0 gives the start model, 1 the fine-tune.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Checkpoint to write (export it with mediqa export checkpoint).",
)
def interpolate(init: str, finetuned: str, alpha: float, out_path: str) -> None:
    """Mix a fine-tune with its start model in weight space (WiSE-FT): (1 - alpha) start + alpha fine-tune.

    The start model's input weights are first folded onto the fine-tune's grey channels, and it is given the
    fine-tune's context branch at 0, as the fine-tune itself began.
    """
    from .loop import load_init
    from .model import CheckpointError, load_checkpoint, save_checkpoint
    from .model.interpolate import interpolate_models

    if not Path(finetuned).is_file():
        sys.exit(f"error: --finetuned {finetuned}: checkpoint not found")
    _check_init(init)
    try:
        tuned, provenance = load_checkpoint(finetuned)
    except CheckpointError as err:
        sys.exit(f"error: --finetuned {err}")
    start = load_init(
        init,
        tuple(getattr(tuned.cfg, "gray_channels", ())),
        getattr(tuned.cfg, "global_context", False),
        getattr(tuned.cfg, "context_quadrants", False),
    )
    if start.cfg.to_dict() != tuned.cfg.to_dict():
        sys.exit(f"error: {finetuned}: not a fine-tune of {init} (other model configuration)")
    mixed = interpolate_models(start, tuned, alpha)  # same configuration, so the same parameters
    if Path(init).is_file():
        start_id = {"checkpoint": init, "sha256": hashlib.sha256(Path(init).read_bytes()).hexdigest()}
    else:
        from mediqa_sdk.registry import load_registry

        record = load_registry().models[init]
        start_id = {"name": init, "version": record.version, "sha256": record.sha256}
    sha = hashlib.sha256(Path(finetuned).read_bytes()).hexdigest()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        mixed,
        out_path,
        provenance={
            "stage": "interpolate",
            "alpha": alpha,
            "start": start_id,
            "finetuned": {"checkpoint": finetuned, "sha256": sha, "provenance": provenance},
            "settings": provenance.get("settings", {}),
        },
    )
    _say(f"wrote {out_path}: {1 - alpha:g} x {init} + {alpha:g} x {finetuned}")
