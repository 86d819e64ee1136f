"""Score a dataset from Python and keep the images good enough to train on.

    python examples/filter_dataset.py examples/data curated/ --min-score 0.5

Writes ``curated/keep.csv`` and ``curated/reject.csv`` (``path,score,grade,modality,region,reason``); with
``--copy`` the kept files (or DICOM series folders) are copied to ``curated/images/``. A scan is rejected when
it scores below ``--min-score``, when the model could not judge it (unreliable), or when it fails to load.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from mediqa_sdk import Assessor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="folder of images or volumes (searched recursively)")
    parser.add_argument("out", nargs="?", default="curated", help="output folder (default: curated)")
    parser.add_argument("--min-score", type=float, default=0.5, help="keep scores at or above this")
    parser.add_argument("--copy", action="store_true", help="copy the kept inputs to OUT/images/")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    assessor = Assessor(device="cpu")
    keep, reject = [], []
    for outcome in assessor.iter_score([args.dataset], recursive=True, batch_size=8):
        path = str(outcome.item.path)
        res = outcome.result
        if res is None:
            reject.append({"path": path, "reason": f"not readable: {outcome.error}"})
            continue
        row = {
            "path": path,
            "score": f"{res.score:.4f}",
            "grade": res.grade,
            "modality": res.prompts["modality"].value,
            "region": res.prompts["region"].value,
        }
        if not res.reliable:
            reject.append({**row, "reason": "unreliable: nothing to judge"})
        elif res.score < args.min_score:
            reject.append({**row, "reason": f"score below {args.min_score:g}"})
        else:
            keep.append({**row, "reason": ""})
            if args.copy:
                target = out / "images" / outcome.item.path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                if outcome.item.path.is_dir():
                    shutil.copytree(outcome.item.path, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(outcome.item.path, target)
    columns = ["path", "score", "grade", "modality", "region", "reason"]
    for name, rows in (("keep.csv", keep), ("reject.csv", reject)):
        with (out / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda r: r.get("score", ""), reverse=True))
    print(f"kept {len(keep)}, rejected {len(reject)} -> {out / 'keep.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
