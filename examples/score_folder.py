"""Score every scan in a folder and write a QC summary page (the Python side of ``mediqa score --report``).

    python examples/score_folder.py examples/data qc/ --open

Writes ``qc/results.jsonl`` (one line per scan, as it is scored), ``qc/results.csv``, ``qc/summary.html``
and a report page with a montage per scan. The same from the shell:
``mediqa score examples/data -r --report qc/``.
"""

from __future__ import annotations

import argparse
import webbrowser

from mediqa_sdk import Assessor
from mediqa_sdk.report import QcRun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder of scans (searched recursively)")
    parser.add_argument("out", nargs="?", default="qc", help="output folder (default: qc)")
    parser.add_argument("--threshold", type=float, default=None, help="flag scores below this")
    parser.add_argument("--open", action="store_true", help="open the summary in a browser")
    args = parser.parse_args(argv)

    assessor = Assessor(device="cpu")
    run = QcRun(args.out, assessor=assessor, threshold=args.threshold)
    for outcome in assessor.iter_score([args.folder], recursive=True):
        reason = run.add(outcome)  # report page + montage, then one JSONL line, flushed
        if outcome.result is None:
            print(f"failed   {outcome.item.label}: {outcome.error}")
        else:
            print(f"{'FLAGGED' if reason else 'ok':8} {outcome.result.score:.3f}  {outcome.item.label}")
    totals = run.close()  # results.csv and summary.html
    print(f"{totals.scored} scored, {totals.flagged} flagged, {totals.failed} failed -> {totals.summary}")
    if args.open:
        webbrowser.open(totals.summary.resolve().as_uri())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
