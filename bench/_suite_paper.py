"""The MedIQA paper's Table 1 and Table 2 (``shared/seed/mediqa-paper.md``), as data, and which of our cells
they sit beside.

Values are ``(SRCC, PLCC, RMSE)``. The paper's data are not ours (its pre-training set, Chest-CTIQA,
brain MR and fundus benchmarks and LDCTIQAC2023, with expert scores); ours are held-out real scans of our
test split degraded by the data engine and scored against the pseudo-MOS. The numbers sit side by side to
show the shape of the comparison, not to compare values.

Our copy of the paper loses two rows to extraction: Table 1's ViT downstream row (one cell legible) and
Table 2's row 1 (one cell legible). Row 1 (no pre-training, no prompts, no salient slices) equals Table 1's
"Ours-s" wherever it can be checked: its legible cell (LDCTIQAC2023 PLCC 0.9759) and the text's deltas
(Brain-T2: +0.1803 SRCC, +0.1877 PLCC, -0.1035 RMSE from row 1 to row 3) both match, so it is filled from
"Ours-s" and marked as inferred.
"""

from __future__ import annotations

__all__ = [
    "ABLATION_COLUMNS",
    "ABLATION_ROWS",
    "DOWNSTREAM",
    "DOWNSTREAM_COLUMNS",
    "MODEL_TO_PAPER",
    "UPSTREAM",
    "UPSTREAM_COLUMNS",
]

Cell = tuple[float, float, float]

UPSTREAM_COLUMNS = ("Test", "Lung window", "Soft window", "Brain T1", "Brain T2", "Breast T1")
_U = {
    "VGG": "0.6623 0.6744 0.2838 0.6857 0.6972 0.2141 0.7054 0.7247 0.2149 0.6838 0.6770 0.2679 "
    "0.5914 0.6142 0.4153 0.6452 0.6589 0.3062",
    "ResNet": "0.5413 0.5506 0.2994 0.6283 0.6438 0.2112 0.2988 0.2848 0.2569 0.5945 0.6129 0.3112 "
    "0.5559 0.5901 0.4083 0.6290 0.6187 0.3121",
    "Swin-transformer": "0.6626 0.6758 0.2842 0.7034 0.7221 0.2102 0.7018 0.7021 0.2175 0.6619 0.6771 "
    "0.2771 0.5566 0.5774 0.4137 0.6886 0.6792 0.3086",
    "ViT": "0.5852 0.5858 0.3044 0.7118 0.7021 0.2175 0.6591 0.6498 0.2339 0.5396 0.5515 0.3313 "
    "0.4193 0.4378 0.4284 0.5993 0.5887 0.3211",
    "DeepViT": "0.5402 0.5432 0.3108 0.5490 0.5644 0.2396 0.6203 0.6054 0.2376 0.5213 0.5339 0.3338 "
    "0.4127 0.4422 0.4327 0.5968 0.5857 0.3217",
    "CNNIQAnet": "0.5486 0.5266 0.3202 0.5549 0.5466 0.2471 0.6096 0.5876 0.2404 0.5382 0.5032 0.3423 "
    "0.4957 0.5098 0.4499 0.5434 0.4851 0.3404",
    "WaDIQaM": "0.6478 0.6298 0.2998 0.7152 0.7225 0.2103 0.7091 0.6891 0.2196 0.6154 0.5930 0.3192 "
    "0.5873 0.5546 0.4135 0.6094 0.5657 0.3173",
    "Ours": "0.7770 0.8110 0.2609 0.7316 0.7363 0.2029 0.7114 0.7674 0.2031 0.7891 0.8739 0.2443 "
    "0.6828 0.6689 0.3843 0.8148 0.9246 0.1957",
}

DOWNSTREAM_COLUMNS = ("Chest-CTIQA", "Brain-T1", "Brain-T2", "Brain-FLAIR", "Fundus", "LDCTIQAC2023")
_D = {
    "VGG": "0.4166 0.3686 0.2670 0.6172 0.6127 0.2103 0.5313 0.5394 0.3419 0.6283 0.6214 0.3345 "
    "0.7368 0.6923 0.2899 0.8350 0.8298 0.1609",
    "ResNet": "0.3902 0.3976 0.2026 0.5719 0.5284 0.2571 0.4919 0.5039 0.3467 0.5202 0.5214 0.3556 "
    "0.7119 0.6897 0.3772 0.7972 0.7775 0.1599",
    "Swin-transformer": "0.4741 0.5004 0.2232 0.8026 0.8694 0.2137 0.6968 0.7012 0.3749 0.6968 0.7012 "
    "0.2849 0.8118 0.7755 0.3068 0.9013 0.9009 0.0922",
    "DeepViT": "0.4592 0.4697 0.2964 0.7988 0.8646 0.1822 0.6585 0.6582 0.2775 0.6131 0.5879 0.3203 "
    "0.7368 0.6923 0.3899 0.8342 0.8336 0.1257",
    "CNNIQAnet": "0.4641 0.4990 0.2530 0.6547 0.6567 0.2161 0.6517 0.6369 0.3027 0.6323 0.6286 0.3429 "
    "0.7842 0.7734 0.3002 0.8661 0.8866 0.1036",
    "WaDIQaM": "0.4835 0.4810 0.1945 0.7119 0.6897 0.2172 0.7056 0.6717 0.2777 0.6585 0.6582 0.3275 "
    "0.7672 0.7775 0.2519 0.8798 0.8583 0.1213",
    "Ours-s": "0.4875 0.5255 0.1661 0.8659 0.8905 0.1507 0.7058 0.7035 0.2731 0.7177 0.7184 0.2798 "
    "0.8329 0.9144 0.2054 0.9761 0.9759 0.0631",
    "Ours-e": "0.7070 0.7455 0.1276 0.8681 0.8985 0.1196 0.8861 0.8912 0.1696 0.7654 0.7578 0.2657 "
    "0.8504 0.9320 0.1837 0.9764 0.9762 0.0618",
}

ABLATION_COLUMNS = DOWNSTREAM_COLUMNS
#: (row, pre-training, prompts, salient slices, note) -> cells (None: not reported, 2D columns of row 4)
_A = (
    (1, False, False, False, "inferred: Table 1 Ours-s", _D["Ours-s"]),
    (
        2,
        True,
        False,
        False,
        "",
        "0.5347 0.5541 0.1608 0.8706 0.8978 0.1261 0.8549 0.8559 0.1936 0.8294 0.8247 0.2203 "
        "0.8345 0.9438 0.1668 0.9742 0.9757 0.0589",
    ),
    (
        3,
        True,
        True,
        False,
        "",
        "0.5464 0.5927 0.1561 0.8681 0.8985 0.1196 0.8861 0.8912 0.1696 0.7654 0.7578 0.2657 "
        "0.8504 0.9320 0.1837 0.9764 0.9762 0.0618",
    ),
    (4, True, True, True, "salient slices apply to 3D only", "0.7070 0.7455 0.1276"),
)


def _cells(text: str, columns: tuple[str, ...]) -> dict[str, Cell | None]:
    v = [float(x) for x in text.split()]
    out: dict[str, Cell | None] = {}
    for i, col in enumerate(columns):
        out[col] = (v[3 * i], v[3 * i + 1], v[3 * i + 2]) if 3 * i + 2 < len(v) else None
    return out


UPSTREAM: dict[str, dict[str, Cell | None]] = {m: _cells(t, UPSTREAM_COLUMNS) for m, t in _U.items()}
DOWNSTREAM: dict[str, dict[str, Cell | None]] = {m: _cells(t, DOWNSTREAM_COLUMNS) for m, t in _D.items()}
ABLATION_ROWS: list[dict[str, object]] = [
    {"row": r, "pt": pt, "pm": pm, "ss": ss, "note": note, "cells": _cells(t, ABLATION_COLUMNS)}
    for r, pt, pm, ss, note, t in _A
]

#: our model rows -> the paper's row they correspond to
MODEL_TO_PAPER = {
    "shipped": "Ours-s",
    "medIQA": "Ours-s",
    "resnet": "ResNet",
    "vit": "ViT",
    "cnniqa": "CNNIQAnet",
}
