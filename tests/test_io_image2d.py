"""2D images: PNG (8/16-bit, palette, alpha), JPEG colour, TIFF (float, multi-page), decompression bombs."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from mediqa_sdk.errors import InputTooLargeError, ScanReadError
from mediqa_sdk.io import ReadLimits, load_scan
from mediqa_sdk.io.image2d import image_size

from .io_fixtures import (
    write_jpeg,
    write_palette_png,
    write_png8,
    write_png16,
    write_png_header_only,
    write_tiff,
)


def test_png16_keeps_values(tmp_path: Path) -> None:
    img = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 97 % 65535).astype(np.uint16)
    path = write_png16(tmp_path / "xray.png", img)
    scan = load_scan(path)
    assert scan.dim == "2d" and scan.axis == "none" and scan.format == "image"
    assert scan.slices.shape == (1, 20, 30) and not scan.is_color
    np.testing.assert_array_equal(scan.slices[0], img.astype(np.float32))
    assert all(math.isnan(s) for s in scan.spacing)
    assert scan.metadata["stored_dtype"] == "uint16"
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_float_tiff(tmp_path: Path) -> None:
    img = np.linspace(-1.5, 2.5, 12 * 16, dtype=np.float32).reshape(12, 16)
    scan = load_scan(write_tiff(tmp_path / "map.tif", img))
    np.testing.assert_allclose(scan.slices[0], img)
    assert scan.metadata["stored_dtype"] == "float32"


def test_float_tiff_nan_replaced(tmp_path: Path) -> None:
    img = np.ones((4, 5), np.float32)
    img[1, 1] = np.nan
    scan = load_scan(write_tiff(tmp_path / "nan.tiff", img))
    assert np.isfinite(scan.slices[0]).all()
    assert any("NaN or infinite" in w for w in scan.warnings)


def test_multipage_tiff_first_page_with_warning(tmp_path: Path) -> None:
    pages = [np.full((6, 7), v, np.uint16) for v in (5, 6, 7)]
    scan = load_scan(write_tiff(tmp_path / "stack.tif", pages))
    assert scan.slices.shape == (1, 6, 7) and float(scan.slices[0].mean()) == 5.0
    assert any("multi-page TIFF (3 pages): scored the first page" in w for w in scan.warnings)


def test_palette_png(tmp_path: Path) -> None:
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    scan = load_scan(write_palette_png(tmp_path / "pal.png", indices, palette))
    assert scan.is_color and scan.slices.shape == (1, 2, 2, 3)
    px = scan.slices[0]
    np.testing.assert_array_equal(px[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(px[1, 0], [0, 0, 255])


def test_colour_jpeg_is_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = 220  # red fundus-like
    rgb[..., 1] = 90
    rgb[..., 2] = 20
    scan = load_scan(write_jpeg(tmp_path / "fundus.jpg", rgb))
    assert scan.is_color and scan.slices.shape == (1, 32, 48, 3)
    mean = scan.slices[0].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, [220, 90, 20], atol=3)


def test_grey_saved_as_rgb_becomes_grey(tmp_path: Path) -> None:
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))
    png = load_scan(write_png8(tmp_path / "g.png", np.stack([grey] * 3, axis=-1)))
    assert not png.is_color and png.slices.shape == (1, 5, 25)
    np.testing.assert_array_equal(png.slices[0], grey.astype(np.float32))
    jpg = load_scan(write_jpeg(tmp_path / "g.jpg", np.stack([grey] * 3, axis=-1)))
    assert not jpg.is_color


def test_alpha_dropped(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 128
    scan = load_scan(write_png8(tmp_path / "a.png", rgba))
    assert scan.slices.shape == (1, 4, 4, 3)
    np.testing.assert_array_equal(scan.slices[0][0, 0], [10, 20, 30])


def test_header_claiming_huge_image_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    def no_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded despite the limit")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    path = write_png_header_only(tmp_path / "bomb.png", 60000, 60000)
    with pytest.raises(InputTooLargeError, match=r"^bomb\.png: header claims a 60000x60000 image"):
        load_scan(path)
    small = write_png16(tmp_path / "s.png", np.zeros((10, 10), np.uint16))
    with pytest.raises(InputTooLargeError):
        load_scan(small, limits=ReadLimits(max_pixels_2d=50))


def test_header_sizes_of_each_format(tmp_path: Path) -> None:
    rgb = np.zeros((21, 33, 3), np.uint8)
    assert image_size(write_jpeg(tmp_path / "a.jpg", rgb).read_bytes())[1:] == (33, 21, 1)
    assert image_size(write_png8(tmp_path / "a.png", rgb).read_bytes())[1:] == (33, 21, 1)
    assert image_size(write_tiff(tmp_path / "a.tif", rgb[..., 0]).read_bytes())[1:] == (33, 21, 1)
    pages = [np.zeros((5, 6), np.uint8)] * 4
    assert image_size(write_tiff(tmp_path / "b.tif", pages).read_bytes())[1:] == (6, 5, 4)


def test_truncated_png_is_a_read_error(tmp_path: Path) -> None:
    good = write_png16(tmp_path / "good.png", np.arange(400, dtype=np.uint16).reshape(20, 20))
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ScanReadError, match=r"^cut\.png: "):
        load_scan(bad)
