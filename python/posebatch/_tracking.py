"""convert_detections2tracklets: DeepLabCut's function of the same name, run by posebatch."""
from __future__ import annotations

import logging
import os
from typing import Any, List, Optional, Sequence, Union

from . import _posebatch
from ._project import PathLike, collect_videos, is_project_config, resolve_model

logger = logging.getLogger("posebatch")


def convert_detections2tracklets(
    config: PathLike,
    videos: Union[PathLike, Sequence[PathLike]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    overwrite: bool = False,
    destfolder: Optional[PathLike] = None,
    ignore_bodyparts: Optional[Sequence[str]] = None,
    inferencecfg: Optional[PathLike] = None,
    modelprefix: str = "",
    identity_only: bool = False,
    track_method: str = "",
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
) -> List[str]:
    """Tracklets from a multi-animal analysis, as ``deeplabcut.convert_detections2tracklets``.

    For each video, reads ``<video stem><scorer>_full.pickle``, ``_assemblies.pickle`` and
    ``_meta.pickle`` (in ``destfolder``, else beside the video; written by DeepLabCut's or
    posebatch's ``analyze_videos``) and writes DeepLabCut's tracklet pickle,
    ``<video stem><scorer>_el.pickle`` (``_bx`` for box, ``_sk`` for skeleton), the file
    ``deeplabcut.stitch_tracklets`` reads. An existing one is kept unless ``overwrite``.

    Args:
        config: the project's config.yaml (its shuffle's scorer, tracking settings and
            default_track_method are DeepLabCut's).
        inferencecfg: an inference_cfg.yaml path (default: the shuffle's test/inference_cfg.yaml,
            else DeepLabCut's defaults). A dict is not accepted: write it to a file.
        track_method: "ellipse", "box" or "skeleton" (default: the project's).
        identity_only: assign by the identity head's votes alone.
        ignore_bodyparts: not supported (a ValueError when given).

    Returns:
        The tracklet pickles written or kept, in video order.
    """
    if ignore_bodyparts:
        raise ValueError("ignore_bodyparts is not supported by posebatch's tracking")
    if inferencecfg is not None and not isinstance(inferencecfg, (str, os.PathLike)):
        raise ValueError("inferencecfg: give the path of an inference_cfg.yaml")
    if not is_project_config(config):
        raise ValueError(f"{os.fspath(config)}: not a DeepLabCut project config.yaml")
    resolved = resolve_model(config, shuffle, trainingsetindex, modelprefix, snapshot_index, detector_snapshot_index)
    if inferencecfg is None:
        candidate = os.path.join(os.path.dirname(resolved.model_path), "test", "inference_cfg.yaml")
        if os.path.isfile(candidate):
            inferencecfg = candidate
    method = track_method or str(resolved.project.get("default_track_method") or "") or None
    options = {"inference_config": os.fspath(inferencecfg) if inferencecfg is not None else None,
               "track_method": method, "identity_only": bool(identity_only), "overwrite": bool(overwrite),
               "dest": os.fspath(destfolder) if destfolder is not None else None}
    written = []
    for video in collect_videos(videos, videotype or None):
        folder = os.fspath(destfolder) if destfolder is not None else os.path.dirname(video)
        stem = os.path.splitext(os.path.basename(video))[0]
        predictions = os.path.join(folder, stem + resolved.scorer + "_full.pickle")
        path, notes = _posebatch.convert_to_tracklets(predictions, options)
        for note in notes:
            logger.info("%s", note)
        written.append(path)
    return written


def stitch_tracklets(
    config_path: PathLike,
    videos: Union[PathLike, Sequence[PathLike]],
    video_extensions: Union[str, Sequence[str], None] = None,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    n_tracks: Optional[int] = None,
    animal_names: Optional[Sequence[str]] = None,
    min_length: int = 10,
    split_tracklets: bool = True,
    prestitch_residuals: bool = True,
    max_gap: Optional[int] = None,
    weight_func: Any = None,
    destfolder: Optional[PathLike] = None,
    modelprefix: str = "",
    track_method: str = "",
    output_name: str = "",
    transformer_checkpoint: str = "",
    save_as_csv: bool = False,
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
) -> List[str]:
    """Tracks from tracklets, as ``deeplabcut.stitch_tracklets``.

    For each video, reads ``<video stem><scorer>_el.pickle`` (``_bx``, ``_sk`` by
    ``track_method``; in ``destfolder``, else beside the video) and writes the tracked
    ``<video stem><scorer>_el.h5`` (key ``"tracks"``; ``.csv`` too with ``save_as_csv``) beside
    it: the file ``create_labeled_video(track_method=...)``, ``filterpredictions`` and
    ``analyzeskeleton`` read.

    Args:
        config_path: the project's config.yaml (its shuffle's scorer, individuals and
            default_track_method are DeepLabCut's).
        n_tracks: tracks to build (default: one per animal name).
        animal_names: the tracks' names (default: the project's individuals); with
            ``n_tracks`` too, their number must equal it.
        min_length, split_tracklets, prestitch_residuals, max_gap: DeepLabCut's.
        weight_func, output_name, transformer_checkpoint: not supported (a ValueError).

    Returns:
        The tracked .h5 files written, in video order.
    """
    for name, value in (("weight_func", weight_func), ("output_name", output_name),
                        ("transformer_checkpoint", transformer_checkpoint)):
        if value:
            raise ValueError(f"{name} is not supported by posebatch's stitching")
    if not is_project_config(config_path):
        raise ValueError(f"{os.fspath(config_path)}: not a DeepLabCut project config.yaml")
    resolved = resolve_model(config_path, shuffle, trainingsetindex, modelprefix, snapshot_index,
                             detector_snapshot_index)
    method = track_method or str(resolved.project.get("default_track_method") or "") or "ellipse"
    if method == "ctd":
        raise ValueError("CTD tracking happens during analyze_videos (ctd_tracking=True); nothing to stitch")
    suffix = {"ellipse": "_el", "transformer": "_el", "box": "_bx", "skeleton": "_sk"}.get(method)
    if suffix is None:
        raise ValueError(f"track_method must be 'ellipse', 'box' or 'skeleton', got {method!r}")
    if animal_names is None:  # the project's, cut or replaced by ind1... as DeepLabCut's format_df does
        animal_names = list(resolved.project.get("individuals") or [])
        if n_tracks is not None:
            animal_names = (animal_names[:n_tracks] if len(animal_names) >= n_tracks
                            else [f"ind{i}" for i in range(1, n_tracks + 1)])
    elif n_tracks is not None and n_tracks != len(animal_names):
        raise ValueError(f"n_tracks ({n_tracks}) must equal len(animal_names) ({len(animal_names)}) when both are given")
    options = {"n_tracks": n_tracks, "animal_names": ",".join(animal_names) if animal_names else None,
               "min_length": min_length, "split_tracklets": bool(split_tracklets),
               "prestitch_residuals": bool(prestitch_residuals), "max_gap": max_gap,
               "save_as_csv": bool(save_as_csv)}
    if n_tracks is None and animal_names:
        options["n_tracks"] = len(animal_names)
    written = []
    for video in collect_videos(videos, video_extensions):
        folder = os.fspath(destfolder) if destfolder is not None else os.path.dirname(video)
        stem = os.path.splitext(os.path.basename(video))[0]
        path, notes = _posebatch.stitch_tracklets(os.path.join(folder, stem + resolved.scorer + suffix + ".pickle"),
                                                  options)
        for note in notes:
            logger.info("%s", note)
        written.append(path)
    return written
