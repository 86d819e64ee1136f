"""A reader for the isolated worker that misbehaves on request (imported in the worker: keep it light)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def hostile_reader(source: Any, limits: Any, series: str | None) -> Any:
    """Reads like the default, except files whose name asks it to crash, hang or exhaust memory."""
    from mediqa_sdk.isolate import _default_reader

    name = Path(getattr(source, "path", source)).name
    if name.startswith("segfault"):
        import ctypes

        ctypes.string_at(0)  # SIGSEGV, as a broken C decoder would
    if name.startswith("abort"):
        os.abort()
    if name.startswith("hang"):
        time.sleep(600)
    if name.startswith("blowup"):
        bytearray(64 * 2**30)  # far above the ceiling: MemoryError under RLIMIT_AS
    return _default_reader(source, limits, series)
