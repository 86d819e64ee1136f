"""The report and summary pages as a real browser draws them (headless Chromium; skipped without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from mediqa_sdk.cli import main
from mediqa_sdk.report.montage import BAND_COLORS

from .synthetic import ct_volume, fundus_photo

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium (Debian: apt-get install chromium)"
)

_MONTAGE_BG = (30, 27, 24)  # BGR of the montage background (report.montage._BG)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _screenshot(tmp_path: Path, page: Path, size: str = "1280,1600") -> np.ndarray:
    shot = tmp_path / f"{page.stem}.screen.png"
    done = _chromium(tmp_path, f"--window-size={size}", f"--screenshot={shot}", page.resolve().as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    return cv2.imread(str(shot), cv2.IMREAD_COLOR)


def _near(image: np.ndarray, bgr: tuple[int, int, int], tol: int = 6) -> int:
    """Pixels within ``tol`` of a colour."""
    return int((np.abs(image.astype(int) - np.array(bgr)).max(axis=-1) <= tol).sum())


def _svg_band_bgr(hex_color: str, opacity: float) -> tuple[int, int, int]:
    """A band colour drawn with ``opacity`` over the white card."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(round(opacity * c + (1 - opacity) * 255) for c in (b, g, r))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    scans = root / "scans"
    scans.mkdir()
    for k, noise in enumerate((5, 60, 150)):
        vol = ct_volume(14, size=96, noise_hu=noise, seed=k)
        nib.save(nib.Nifti1Image(np.transpose(vol, (2, 1, 0)).astype(np.int16), np.diag([1, 1, 2, 1.0])),
                 scans / f"ct{k}.nii.gz")  # fmt: skip
    cv2.imwrite(str(scans / "fundus.png"), fundus_photo()[..., ::-1].astype(np.uint8))
    (scans / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = root / "qc"
    res = CliRunner().invoke(main, ["score", str(scans), "--report", str(out), "--threshold", "0.99"])
    assert res.exit_code == 1, res.stderr  # the broken file
    return out


def test_report_page_renders_the_montage_and_the_grade_scale(run_dir, tmp_path):
    page = run_dir / "scans_ct1.html"
    dom = _chromium(tmp_path, "--dump-dom", page.resolve().as_uri()).stdout
    for element in ('id="montage"', 'class="gradescale"', 'id="prompts"', 'id="physics"', 'id="provenance"'):
        assert element in dom, element
    shot = _screenshot(tmp_path, page)
    assert shot.std() > 20  # not a blank page
    # the embedded montage was decoded and drawn: its dark background fills a large part of the screen
    assert _near(shot, _MONTAGE_BG, tol=3) > 50_000
    # the grade bands of the SVG scale are painted
    for name in ("poor", "acceptable", "good"):
        assert _near(shot, _svg_band_bgr(BAND_COLORS[name], 0.9)) > 500, name


def test_summary_page_renders_thumbnails_histograms_and_failures(run_dir, tmp_path):
    page = run_dir / "summary.html"
    dom = _chromium(tmp_path, "--dump-dom", page.resolve().as_uri()).stdout
    assert dom.count('class="thumb"') == 4  # every scored scan is below 0.99: flagged, with a thumbnail
    assert 'class="histogram"' in dom and "broken.png" in dom
    shot = _screenshot(tmp_path, page, "1280,1400")
    assert shot.std() > 20
    # thumbnails are strips of CT slices: the CT's grey levels appear on screen, and the histogram bars too
    assert _near(shot, (0, 0, 0), tol=2) > 2000  # air of the CT tiles
    assert sum(_near(shot, _svg_band_bgr(c, 1.0), tol=4) for c in BAND_COLORS.values()) > 200
