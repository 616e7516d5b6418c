"""``dataset.yaml``: the description of a dataset folder (see docs/ARCHITECTURE.md)::

clip_len: 2.0                            # seconds per feature clip
video_feature_dirs: [video_features]     # relative to the folder; several are concatenated along D
text_feature_dir: text_features
splits: {train: train.jsonl, val: val.jsonl}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtg.config import load_yaml
from vtg.errors import UserError, check_number

DATASET_FILE = "dataset.yaml"
FIELDS = ("clip_len", "video_feature_dirs", "text_feature_dir", "splits")


@dataclass
class DatasetConfig:
    """A dataset folder's description, with paths resolved against the folder."""

    root: Path
    clip_len: float
    video_feature_dirs: list[Path]
    text_feature_dir: Path
    splits: dict[str, Path]

    @property
    def path(self) -> Path:
        """The ``dataset.yaml`` file itself (for error messages)."""
        return self.root / DATASET_FILE

    def split_path(self, split: str) -> Path:
        """The annotation file of ``split``; an unknown split names the known ones."""
        if split not in self.splits:
            raise UserError(f"{self.path}: field 'splits': no split {split!r} (has: {', '.join(self.splits)})")
        return self.splits[split]


def load_dataset_config(root: str | Path) -> DatasetConfig:
    """Read ``root/dataset.yaml``, checking every field and that the folders and files it names exist."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset folder not found")
    path = root / DATASET_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found (a dataset folder needs a {DATASET_FILE}; see docs/ARCHITECTURE.md)")
    data = load_yaml(path)
    for name in FIELDS:
        if name not in data:
            raise UserError(f"{path}: field '{name}': missing")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise UserError(f"{path}: field '{unknown[0]}': unknown (expected {', '.join(FIELDS)})")

    clip_len = check_number(data["clip_len"], f"{path}: field 'clip_len'")
    if clip_len <= 0:
        raise UserError(f"{path}: field 'clip_len': expected a positive number of seconds, got {clip_len}")

    dirs = data["video_feature_dirs"]
    if isinstance(dirs, str):
        dirs = [dirs]
    if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) for d in dirs):
        raise UserError(f"{path}: field 'video_feature_dirs': expected a list of folder names, got {dirs!r}")
    video_dirs = [existing_dir(root, d, path, "video_feature_dirs") for d in dirs]

    text = data["text_feature_dir"]
    if not isinstance(text, str):
        raise UserError(f"{path}: field 'text_feature_dir': expected a folder name, got {text!r}")
    text_dir = existing_dir(root, text, path, "text_feature_dir")

    splits = data["splits"]
    if not isinstance(splits, dict) or not splits:
        raise UserError(f"{path}: field 'splits': expected a mapping split -> annotation file, got {splits!r}")
    split_paths = {}
    for name, file in splits.items():
        if not isinstance(file, str):
            raise UserError(f"{path}: field 'splits.{name}': expected a file name, got {file!r}")
        split_paths[str(name)] = root / relative_inside(file, path, f"splits.{name}")
        if not split_paths[str(name)].is_file():
            raise UserError(f"{path}: field 'splits.{name}': {split_paths[str(name)]} not found")
    return DatasetConfig(root, clip_len, video_dirs, text_dir, split_paths)


def existing_dir(root: Path, name: str, path: Path, field: str) -> Path:
    """``root/name`` if it is a folder, else an error naming ``field`` of ``path``."""
    directory = root / relative_inside(name, path, field)
    if not directory.is_dir():
        raise UserError(f"{path}: field '{field}': folder {directory} not found")
    return directory


def relative_inside(name: str, path: Path, field: str) -> str:
    """``name`` if it is a relative path that stays inside the dataset folder (no ``..``, not absolute), else an
    error naming ``field`` of ``path``: a dataset folder describes its own files, not others on the machine.
    (A feature folder may still be a symbolic link to another disk: the text is checked, not the target.)"""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts:
        raise UserError(f"{path}: field '{field}': {name!r} leaves the dataset folder (give a path inside it)")
    return name
