"""Finding the model of a DeepLabCut project, as DeepLabCut's own analyze_videos does.

DeepLabCut's rule (deeplabcut.utils.auxiliaryfunctions.get_model_folder and
pose_estimation_pytorch's snapshot helpers), restated:

* the project folder is the folder of ``config.yaml`` (DeepLabCut's ``read_config`` replaces
  a stale ``project_path`` entry with it);
* the model folder of a shuffle is
  ``<project>/<modelprefix>/dlc-models-pytorch/iteration-<iteration>/``
  ``<Task><date>-trainset<int(100 * TrainingFraction[trainingsetindex])>shuffle<shuffle>/train``;
* snapshots there are ``snapshot-<epochs>.pt`` and ``snapshot-best-<epochs>.pt`` (detectors of
  top-down models: ``snapshot-detector-...``), ordered by epochs with the best one moved last;
  ``snapshotindex`` (config.yaml, or the argument) indexes that list (-1: the last, so the
  best when there is one; ``"all"`` is taken as -1; ``"best"``: the best one);
* the scorer is ``DLC_<NetType>_<Task><date>shuffle<shuffle>_snapshot_<uid>`` where NetType
  capitalises each ``_``-separated part of ``net_type`` and uid is ``<epochs>`` or
  ``best-<epochs>``; top-down models with a detector snapshot insert ``detector_<uid>_``
  before ``snapshot_``;
* ``batch_size`` / ``detector_batch_size`` default to config.yaml's (else 1), and a project
  with ``cropping: true`` crops to its x1, x2, y1, y2.

Videos: a folder is scanned one level deep for files with a video extension (``videotype``
when given, else DeepLabCut's list), a file is taken as given unless ``videotype`` is set and
it does not match; DeepLabCut's own outputs (``*_labeled.*``, ``*_full.*``) are left out; the
result is sorted and without duplicates.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

# DeepLabCut's SUPPORTED_VIDEOS and DEFAULT_EXCLUDE_PATTERNS.
SUPPORTED_VIDEOS = ("avi", "mp4", "mov", "mpeg", "mpg", "mpv", "mkv", "flv", "qt", "yuv")
EXCLUDE_PATTERNS = ("*_labeled.*", "*_full.*")
MODEL_FOLDER_NAME = "dlc-models-pytorch"


@dataclass
class ResolvedModel:
    """What posebatch loads for a `model_or_config` argument."""

    model_path: str                         # export .pt, snapshot .pt, training folder, TorchScript
    config_path: str = ""                   # pytorch_config.yaml ("" = found beside the model)
    snapshot: str = ""                      # the snapshot file in a training folder ("" = posebatch's choice)
    detector_snapshot: str = ""             # top-down: the detector snapshot ("" = posebatch's choice)
    scorer: str = ""                        # DeepLabCut's scorer ("" = posebatch's default)
    batch_size: Optional[int] = None        # project default
    detector_batch_size: Optional[int] = None
    crop: Optional[List[int]] = None        # x1, x2, y1, y2
    project: Dict[str, Any] = field(default_factory=dict)  # config.yaml, when one was given


def _load_yaml(path: str) -> Any:
    import yaml  # python3-yaml; only needed for project files

    try:
        with open(path, "r", encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not a readable YAML file ({e})") from None


def is_project_config(path: PathLike) -> bool:
    """True for a DeepLabCut project's config.yaml (it names the Task and the date)."""
    p = os.fspath(path)
    if not (os.path.isfile(p) and p.lower().endswith((".yaml", ".yml"))):
        return False
    cfg = _load_yaml(p)
    return isinstance(cfg, dict) and "Task" in cfg and "date" in cfg


def _snapshot_list(folder: str, prefix: str) -> List[Tuple[bool, int, str]]:
    """(best, epochs, name) of the snapshots in `folder`, in DeepLabCut's order."""
    pattern = re.compile(r"^" + re.escape(prefix) + r"(-best)?-(\d+)\.pt$")
    found = []
    for name in os.listdir(folder):
        m = pattern.match(name)
        if m and os.path.isfile(os.path.join(folder, name)):
            found.append((m.group(1) is not None, int(m.group(2)), name))
    found.sort(key=lambda s: (s[0], s[1]))
    return found


def _pick_snapshot(folder: str, prefix: str, index: Union[int, str], config: str) -> Optional[Tuple[bool, int, str]]:
    snapshots = _snapshot_list(folder, prefix)
    if not snapshots:
        return None
    if isinstance(index, str):
        if index.lower() == "all":
            # DeepLabCut's analyze_videos does the same, with the same warning.
            logging.getLogger("posebatch").warning(
                "%s: snapshot index 'all' for %s: analysing with index -1 (the best, else the last)", config, prefix)
            index = -1
        elif index.lower() == "best":
            best = [s for s in snapshots if s[0]]
            if not best:
                raise ValueError(f"{folder}: no best snapshot ({prefix}-best-*.pt) for snapshotindex 'best'")
            return best[-1]
        else:
            try:
                index = int(index)
            except ValueError:
                raise ValueError(f"{config}: snapshotindex {index!r} is not an integer, 'best' or 'all'") from None
    if not -len(snapshots) <= index < len(snapshots):
        names = [s[2] for s in snapshots]
        raise ValueError(f"{folder}: snapshot index {index} is out of range for {len(snapshots)} snapshot(s) {names}")
    return snapshots[index]


def _uid(snapshot: Tuple[bool, int, str]) -> str:
    best, epochs, _ = snapshot
    return f"best-{epochs}" if best else str(epochs)


def resolve_project(
    config: PathLike,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    modelprefix: str = "",
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
) -> ResolvedModel:
    """The model folder, snapshot and scorer DeepLabCut would use for a project's shuffle."""
    config = os.path.abspath(os.fspath(config))
    cfg = _load_yaml(config)
    if not isinstance(cfg, dict):
        raise ValueError(f"{config}: not a DeepLabCut project configuration")
    for key in ("Task", "date", "TrainingFraction"):
        if key not in cfg:
            raise ValueError(f"{config}: no '{key}' entry (not a DeepLabCut project configuration?)")
    fractions = cfg["TrainingFraction"]
    if not isinstance(fractions, list) or not fractions:
        raise ValueError(f"{config}: TrainingFraction must be a non-empty list")
    if not isinstance(trainingsetindex, int) or not 0 <= trainingsetindex < len(fractions):
        raise ValueError(f"{config}: trainingsetindex {trainingsetindex!r} is out of range "
                         f"(TrainingFraction has {len(fractions)} entries)")
    if not isinstance(shuffle, int) or isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be an integer, got {shuffle!r}")
    project = os.path.dirname(config)
    iteration = cfg.get("iteration", 0)
    task, date = cfg["Task"], cfg["date"]
    percent = int(fractions[trainingsetindex] * 100)  # DeepLabCut's rounding (down)
    train = os.path.join(project, modelprefix, MODEL_FOLDER_NAME, f"iteration-{iteration}",
                         f"{task}{date}-trainset{percent}shuffle{shuffle}", "train")
    if not os.path.isdir(train):
        raise FileNotFoundError(
            f"{config}: no model for shuffle {shuffle} (trainset {percent}%, iteration {iteration}): "
            f"{train} does not exist")
    pytorch_config = os.path.join(train, "pytorch_config.yaml")
    if not os.path.isfile(pytorch_config):
        raise FileNotFoundError(f"{pytorch_config}: no such file (the model folder of {config})")
    model_cfg = _load_yaml(pytorch_config) or {}
    net_type = str(model_cfg.get("net_type", "model"))
    method = str(model_cfg.get("method", "bu")).lower()

    if snapshot_index is None:
        snapshot_index = cfg.get("snapshotindex", -1)
    snapshot = _pick_snapshot(train, "snapshot", snapshot_index, config)
    detector = None
    if method == "td":
        if detector_snapshot_index is None:
            detector_snapshot_index = cfg.get("detector_snapshotindex", -1)
        if detector_snapshot_index is not None:
            detector = _pick_snapshot(train, "snapshot-detector", detector_snapshot_index, config)

    net = "".join(part.capitalize() for part in net_type.split("_"))
    scorer = f"DLC_{net}_{task}{date}shuffle{shuffle}"
    if snapshot is not None:
        uid = f"snapshot_{_uid(snapshot)}"
        if detector is not None:
            uid = f"detector_{_uid(detector)}_{uid}"
        scorer += "_" + uid
    # else: a posebatch TorchScript model in the folder; no snapshot to name.

    crop = None
    if cfg.get("cropping", False):
        crop = [int(cfg[k]) for k in ("x1", "x2", "y1", "y2")]
    return ResolvedModel(
        model_path=train,
        snapshot=os.path.join(train, snapshot[2]) if snapshot is not None else "",
        detector_snapshot=os.path.join(train, detector[2]) if detector is not None else "",
        scorer=scorer,
        batch_size=cfg.get("batch_size", 1),
        detector_batch_size=cfg.get("detector_batch_size", 1),
        crop=crop,
        project=cfg,
    )


def resolve_model(
    model_or_config: PathLike,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    modelprefix: str = "",
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
) -> ResolvedModel:
    """A project's config.yaml (resolved as DeepLabCut does) or a model path taken as is."""
    path = os.fspath(model_or_config)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model, model folder or project config.yaml")
    if is_project_config(path):
        return resolve_project(path, shuffle, trainingsetindex, modelprefix, snapshot_index, detector_snapshot_index)
    if path.lower().endswith((".yaml", ".yml")):  # a pytorch_config.yaml: its folder is the model
        return ResolvedModel(model_path=os.path.dirname(os.path.abspath(path)), config_path=path)
    return ResolvedModel(model_path=path)


def collect_videos(videos: Union[PathLike, Sequence[PathLike]],
                   videotype: Union[str, Sequence[str], None] = None) -> List[str]:
    """DeepLabCut's video list: see the module docstring."""
    if isinstance(videos, (str, os.PathLike)):
        videos = [videos]
    if isinstance(videotype, str):
        wanted = {"." + videotype.lstrip(".").lower()} if videotype else None
    elif videotype is None:
        wanted = None
    else:
        if len(videotype) == 0:
            raise ValueError("videotype must be a string, a non-empty sequence of strings or None")
        wanted = {"." + str(v).lstrip(".").lower() for v in videotype}
    implicit = {"." + v for v in SUPPORTED_VIDEOS}

    def excluded(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in EXCLUDE_PATTERNS)

    found: List[str] = []
    for v in videos:
        p = os.fspath(v)
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: no such video or folder")
        if os.path.isdir(p):
            allowed = wanted or implicit
            for name in os.listdir(p):
                full = os.path.join(p, name)
                if (os.path.isfile(full) and os.path.splitext(name)[1].lower() in allowed
                        and not excluded(name)):
                    found.append(full)
        elif wanted is None or os.path.splitext(p)[1].lower() in wanted:
            if not excluded(os.path.basename(p)):
                found.append(p)
    return sorted(set(os.path.abspath(f) for f in found))
