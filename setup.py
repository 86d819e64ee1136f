"""Build glue that pyproject.toml cannot express: the package list and the registry copy.

``train/`` and ``export/`` are installed as ``mediqa_sdk.train`` and ``mediqa_sdk.export``; the top-level
``models.json`` (the registry) is copied into the built package as ``mediqa_sdk/models.json`` so a wheel
finds it, while an editable checkout reads it from the repository root.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent


def _packages(namespace: str, folder: str) -> list[str]:
    return [namespace, *(f"{namespace}.{p}" for p in find_packages(folder))]


class BuildWithRegistry(build_py):
    """build_py that also places the registry inside the package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "mediqa_sdk" / "models.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "models.json", target)


setup(
    packages=[
        *_packages("mediqa_sdk", "mediqa_sdk"),
        "mediqa_sdk.models",  # data-only folder of ONNX graphs
        *_packages("mediqa_sdk.train", "train"),
        *_packages("mediqa_sdk.export", "export"),
    ],
    cmdclass={"build_py": BuildWithRegistry},
)
