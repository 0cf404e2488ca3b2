"""Write samples as a Hugging Face dataset, and read them back, so any trainer can use them.

Layout of an export folder::

    OUT/
      data/train.jsonl            (format jsonl: one sample per line; needs nothing)
      data/train.parquet          (format parquet: needs the ``datasets`` package)
      hf/                         (format arrow: ``datasets.Dataset.save_to_disk``)
      eibench_export.json         (how it was made: runs, alpha, centring, grouping, counts)

``datasets.load_dataset(OUT)`` loads the jsonl or parquet export as split ``train``;
``datasets.load_from_disk(OUT / "hf")`` loads the arrow one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from eibench.train.samples import Sample, SampleSet

__all__ = ["EXPORT_FORMATS", "MANIFEST", "ExportFormat", "load_samples", "write_export"]

ExportFormat = Literal["jsonl", "parquet", "arrow"]
EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "arrow")
MANIFEST = "eibench_export.json"
DATASETS_HINT = "pip install 'eibench[train]' (or pip install datasets)"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise RuntimeError(f"this export format needs the datasets package: {DATASETS_HINT}") from exc
    return datasets


def write_export(sample_set: SampleSet, out: str | Path, *, fmt: ExportFormat = "jsonl",
                 overwrite: bool = False) -> Path:
    """Write ``sample_set`` under ``out`` and return the data path.

    Raises:
        ValueError: on an unknown format.
        FileExistsError: when ``out`` already holds an export and ``overwrite`` is false.
        RuntimeError: parquet and arrow without the ``datasets`` package.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    root = Path(out)
    if (root / MANIFEST).exists() and not overwrite:
        raise FileExistsError(f"{root} already holds an export; choose another --out or pass "
                              "--overwrite")
    records = [s.to_record() for s in sample_set.samples]
    root.mkdir(parents=True, exist_ok=True)
    for stale in (root / "data" / "train.jsonl", root / "data" / "train.parquet"):
        stale.unlink(missing_ok=True)
    if fmt == "jsonl":
        path = root / "data" / "train.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        datasets = _datasets()
        dataset = datasets.Dataset.from_list(records)
        if fmt == "parquet":
            path = root / "data" / "train.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset.to_parquet(str(path))
        else:
            path = root / "hf"
            dataset.save_to_disk(str(path))
    manifest = {
        "format": fmt,
        "data": str(path.relative_to(root)),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "alpha": sample_set.alpha,
        "center": sample_set.center,
        "group_by": sample_set.group_by,
        "stats": sample_set.stats.as_dict(),
        "columns": list(Sample.__dataclass_fields__),
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    return path


def load_samples(path: str | Path) -> list[Sample]:
    """Read samples from an export folder (any format) or a ``.jsonl`` file.

    Raises:
        FileNotFoundError: when nothing loadable is there.
        ValueError: a line that is not a sample (its number is named).
    """
    source = Path(path)
    if source.is_dir():
        manifest_path = source / MANIFEST
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            source = source / manifest["data"]
        elif (source / "data" / "train.jsonl").exists():
            source = source / "data" / "train.jsonl"
        else:
            raise FileNotFoundError(f"{path} is not an eibench export (no {MANIFEST})")
    if not source.exists():
        raise FileNotFoundError(f"no samples at {source}")
    if source.suffix == ".jsonl":
        samples = []
        with source.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    samples.append(Sample.from_record(json.loads(line)))
                except (ValueError, TypeError, KeyError) as exc:
                    raise ValueError(f"{source}:{lineno}: not a sample ({exc})") from exc
        return samples
    datasets = _datasets()
    dataset = (datasets.load_from_disk(str(source)) if source.is_dir()
               else datasets.Dataset.from_parquet(str(source)))
    return [Sample.from_record(dict(row)) for row in dataset]
