"""The public data sets Portrait knows, where their files are looked for, and conversion.

``convert_dataset(name, out_dir)`` finds a data set's source file under the data root (or the
``path`` given), runs its adapter and returns the canonical Parquet files to ingest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from portrait.datasets import cdnow, online_retail, reviews_zh, ta_feng
from portrait.datasets.base import DatasetFiles, DatasetMissingError

ENV_VAR = "PORTRAIT_DATA"

Converter = Callable[[Path, Path], DatasetFiles]


@dataclass(frozen=True)
class DatasetSpec:
    """A known public data set: its folder in the data root, files, meaning and adapter.

    ``convert(source_file, out_dir)`` converts one source file. ``files`` are the files used by
    default; ``full_files`` (when set) the ones used with ``full=True``.
    """

    name: str
    folder: str
    files: tuple[str, ...]
    description: str
    convert: Converter
    full_files: tuple[str, ...] | None = None

    def files_for(self, full: bool = False) -> tuple[str, ...]:
        """The file names this data set needs (``full`` picks the complete variant if any)."""
        return self.full_files if full and self.full_files else self.files


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name=online_retail.NAME,
            folder=online_retail.FOLDER,
            files=(online_retail.FILE,),
            description=(
                "UCI Online Retail II 2009-2010: invoice lines of a UK online gift retailer "
                "(orders, cancellations as refunds, payments per invoice, guest checkouts)."
            ),
            convert=online_retail.convert_online_retail,
        ),
        DatasetSpec(
            name=ta_feng.NAME,
            folder=ta_feng.FOLDER,
            files=(ta_feng.FILE,),
            description=(
                "Ta-Feng grocery, Taiwan 2000-11..2001-02: basket lines with customer age "
                "group and residence area."
            ),
            convert=ta_feng.convert_ta_feng,
        ),
        DatasetSpec(
            name=cdnow.NAME,
            folder=cdnow.FOLDER,
            files=(cdnow.SAMPLE_FILE,),
            full_files=(cdnow.MASTER_FILE,),
            description=(
                "CDNOW CD store purchases 1997-1998: the 2,357-customer BG/NBD sample "
                "(full=True: all 23,570 customers)."
            ),
            convert=cdnow.convert_cdnow,
        ),
        DatasetSpec(
            name=reviews_zh.NAME,
            folder=reviews_zh.FOLDER,
            files=(reviews_zh.FILE,),
            description=(
                "online_shopping_10_cats: 62,774 Chinese product reviews in 10 categories with "
                "a positive/negative label."
            ),
            convert=reviews_zh.convert_reviews_zh,
        ),
    )
}


class UnknownDatasetError(KeyError, ValueError):
    """No data set has that name (a KeyError and a ValueError, for either kind of caller)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _project_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return None


def default_data_root() -> Path:
    """Where the public data sets live: ``$PORTRAIT_DATA``, else the nearest ``shared/data``.

    ``shared/data`` is looked for in every folder above the working directory and above this
    file (the project keeps it at ``../shared/data`` from its root). When none exists, the
    best candidate is returned anyway: ``shared/data`` beside the project root.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve().parent
    for start in (Path.cwd().resolve(), here):
        for d in (start, *start.parents):
            cand = d / "shared" / "data"
            if cand.is_dir():
                return cand
    root = _project_root(Path.cwd().resolve()) or _project_root(here)
    if root is not None:
        return root.parent / "shared" / "data"
    return Path.cwd().resolve().parent / "shared" / "data"


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name`` (also accepts its folder name or underscores).

    Raises ``UnknownDatasetError`` (a KeyError and ValueError) listing the valid names.
    """
    key = name.strip().lower().replace("_", "-")
    if key in DATASETS:
        return DATASETS[key]
    for spec in DATASETS.values():
        if name.strip().lower() == spec.folder.lower():
            return spec
    raise UnknownDatasetError(
        f"unknown data set {name!r}; valid names: {', '.join(sorted(DATASETS))}"
    )


def locate_source(name: str, path: Path | None = None, full: bool = False) -> Path:
    """The source file of data set ``name``; raise DatasetMissingError naming where it looked.

    ``path`` may be the data root (holding the data set's folder), the data set's folder itself,
    or the source file; by default the data root is ``default_data_root()``.
    """
    spec = get_spec(name)
    (fname,) = spec.files_for(full)
    if path is None:
        root = default_data_root()
        origin = f"${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "the default"
        looked = [root / spec.folder / fname]
        context = f" (data root {root}, from {origin})"
    else:
        path = Path(path).expanduser()
        if path.is_file():
            return path
        looked = [path / spec.folder / fname, path / fname]
        context = f" nor at {looked[1]}"
    if any(p.is_file() for p in looked):
        return next(p for p in looked if p.is_file())
    raise DatasetMissingError(
        f"data set {spec.name!r}: {fname} not found at {looked[0]}{context}. Put the data set "
        f"there, pass --path DIR (the data root holding '{spec.folder}/', or that folder "
        f"itself), or set {ENV_VAR} to the data root."
    )


def convert_dataset(
    name: str, out_dir: Path, path: Path | None = None, full: bool = False
) -> DatasetFiles:
    """Convert public data set ``name`` into canonical Parquet files in ``out_dir``.

    ``path``: the data root, the data set's folder, or its source file (default: the data root
    from ``default_data_root()``). ``full``: use the complete variant where there is one (CDNOW
    master file instead of the sample). Raises ``DatasetMissingError`` when the file is absent
    and ``UnknownDatasetError`` (KeyError/ValueError) for an unknown name.
    """
    spec = get_spec(name)
    source = locate_source(spec.name, path, full)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return spec.convert(source, out_dir)


__all__ = [
    "DATASETS",
    "ENV_VAR",
    "DatasetSpec",
    "UnknownDatasetError",
    "convert_dataset",
    "default_data_root",
    "get_spec",
    "locate_source",
]
