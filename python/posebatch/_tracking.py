"""convert_detections2tracklets: DeepLabCut's function of the same name, run by posebatch."""
from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Union

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
