"""analyze_videos / analyze_images: DeepLabCut's functions of the same names, run by posebatch."""
from __future__ import annotations

import logging
import os
import random
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _posebatch
from ._project import PathLike, ResolvedModel, collect_videos, resolve_model

logger = logging.getLogger("posebatch")

# Called as progress(input, frames_done, frames_total) (-1: unknown total).
ProgressCallback = Callable[[str, int, int], None]
_LEVELS = {0: logging.INFO, 1: logging.INFO, 2: logging.WARNING}
_EXCEPTIONS = {
    "not_found": FileNotFoundError,
    "invalid_argument": ValueError,
    "cancelled": KeyboardInterrupt,
}


def _raise_for(code: str, message: str) -> None:
    """The exception the C++ Status (code, message) stands for (see _posebatch)."""
    exc = _EXCEPTIONS.get(code)
    if exc is not None:
        raise exc(message)
    err = _posebatch.Error(f"{code.replace('_', ' ')}: {message}")
    err.code = code
    raise err


class _Events:
    """Turns the engine's events into log records and progress bars (on the calling thread)."""

    def __init__(self, progress: Union[bool, ProgressCallback]):
        self._callback: Optional[ProgressCallback] = progress if callable(progress) else None
        self._tqdm = None
        if progress is True:
            try:
                from tqdm.auto import tqdm  # optional: progress bars when installed

                self._tqdm = tqdm
            except ImportError:
                pass
        self._bar = None

    def __call__(self, kind: str, text: str, a: int, b: int) -> None:
        if kind == "message":
            logger.log(_LEVELS.get(a, logging.INFO), "%s", text)
        elif kind == "start":
            self._close()
            if self._tqdm is not None:
                self._bar = self._tqdm(total=b if b >= 0 else None, desc=os.path.basename(text),
                                       unit="frame", file=sys.stderr, leave=True)
            if self._callback is not None:
                self._callback(text, 0, b)
        elif kind == "progress":
            if self._bar is not None:
                if b >= 0 and self._bar.total != b:
                    self._bar.total = b
                self._bar.update(a - self._bar.n)
            if self._callback is not None:
                self._callback(text, a, b)
        elif kind == "end":
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        self._close()


def _options(resolved: ResolvedModel, *, device: str, destfolder: Optional[PathLike], save_as_csv: bool,
             batch_size: Union[int, str, None], detector_batch_size: Optional[int], overwrite: bool,
             cropping: Optional[Sequence[int]], scorer: Optional[str], extra: Dict[str, Any]) -> Dict[str, Any]:
    o: Dict[str, Any] = {"device": device, "csv": bool(save_as_csv), "overwrite": bool(overwrite)}
    if resolved.config_path:
        o["config"] = resolved.config_path
    if resolved.snapshot:
        o["snapshot"] = resolved.snapshot
    if resolved.detector_snapshot:
        o["detector_snapshot"] = resolved.detector_snapshot
    if scorer:
        o["scorer"] = scorer
    elif resolved.scorer:
        o["scorer"] = resolved.scorer
    if destfolder is not None:
        o["dest"] = os.fspath(destfolder)
    if batch_size is None:
        batch_size = resolved.batch_size
    if isinstance(batch_size, str) and batch_size == "auto":
        o["batch_size"] = "auto"
    elif batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
        o["batch_size"] = batch_size
    if detector_batch_size is None:
        detector_batch_size = resolved.detector_batch_size
    if detector_batch_size is not None:
        if isinstance(detector_batch_size, bool) or not isinstance(detector_batch_size, int) or detector_batch_size < 1:
            raise ValueError(f"detector_batch_size must be a positive integer, got {detector_batch_size!r}")
        o["detector_batch_size"] = detector_batch_size
    crop = list(cropping) if cropping is not None else resolved.crop
    if crop is not None:
        if len(crop) != 4:
            raise ValueError(f"cropping expects [x1, x2, y1, y2], got {crop!r}")
        o["crop"] = [int(c) for c in crop]
    o.update({k: v for k, v in extra.items() if v is not None})
    return o


def _run(model_or_config: PathLike, inputs: List[str], kind: str, options: Dict[str, Any],
         progress: Union[bool, ProgressCallback]) -> Dict[str, Any]:
    events = _Events(progress)
    try:
        analyzer = _posebatch.Analyzer(model_or_config, options, events)
        result, code, message = analyzer.analyze(inputs, kind, events)
    finally:
        events.close()
    if code != "ok":
        _raise_for(code, message)
    return result


def _extra(config_path, snapshot, threads, half, channels_last, resume, frames, conditions,
           conditions_model, ctd_tracking, boxes, precision="float32") -> Dict[str, Any]:
    if precision not in ("float32", "bf16", "int8"):
        raise ValueError(f"precision must be 'float32', 'bf16' or 'int8', got {precision!r}")
    extra: Dict[str, Any] = {
        "config": os.fspath(config_path) if config_path is not None else None,
        "threads": threads,
        "half": half,
        "channels_last": channels_last,
        "precision": precision,
        "resume": resume,
        "boxes": os.fspath(boxes) if boxes is not None else None,
        "conditions": os.fspath(conditions) if conditions is not None else None,
        "conditions_model": os.fspath(conditions_model) if conditions_model is not None else None,
    }
    if snapshot is not None:
        extra["snapshot"] = os.fspath(snapshot)
    if frames is not None:
        start, stop = frames
        extra["frames"] = f"{int(start or 0)}:{'' if stop is None else int(stop)}"
    if isinstance(ctd_tracking, dict):
        extra["ctd_tracking_config"] = ",".join(f"{k}={v}" for k, v in ctd_tracking.items())
        extra["ctd_tracking"] = True
    elif ctd_tracking:
        extra["ctd_tracking"] = True
    return extra


def _tracking_options(resolved: ResolvedModel, auto_track: bool, n_tracks: Optional[int],
                      animal_names: Optional[Sequence[str]], identity_only: bool) -> Dict[str, Any]:
    """analyze's tracking rows: a project's tracker and inference_cfg.yaml as DeepLabCut finds them."""
    if not auto_track:
        return {"no_track": True}
    if animal_names is not None and n_tracks is not None and n_tracks != len(animal_names):
        raise ValueError(f"n_tracks ({n_tracks}) must equal len(animal_names) ({len(animal_names)}) when both are given")
    track: Dict[str, Any] = {"identity_only": bool(identity_only), "n_tracks": n_tracks,
                             "animal_names": ",".join(animal_names) if animal_names else None}
    if n_tracks is not None and animal_names is None and resolved.project.get("individuals"):
        names = list(resolved.project["individuals"])  # DeepLabCut's format_df: cut, or ind1...
        track["animal_names"] = ",".join(names[:n_tracks] if len(names) >= n_tracks
                                         else [f"ind{i}" for i in range(1, n_tracks + 1)])
    if resolved.project and not resolved.project.get("multianimalproject"):
        return track  # a single-animal project: nothing to track
    if resolved.project.get("default_track_method"):
        track["track_method"] = str(resolved.project["default_track_method"])
    # <shuffle>/test/inference_cfg.yaml beside the <shuffle>/train folder
    candidate = os.path.join(os.path.dirname(os.path.normpath(resolved.model_path)), "test", "inference_cfg.yaml")
    if resolved.project and os.path.isfile(candidate):
        track["inference_config"] = candidate
    return track


def analyze_videos(
    model_or_config: PathLike,
    videos: Union[PathLike, Sequence[PathLike]],
    *,
    videotype: Union[str, Sequence[str], None] = None,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    save_as_csv: bool = False,
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
    device: str = "cpu",
    destfolder: Optional[PathLike] = None,
    batch_size: Union[int, str, None] = None,
    detector_batch_size: Optional[int] = None,
    modelprefix: str = "",
    overwrite: bool = False,
    cropping: Optional[Sequence[int]] = None,
    video_extensions: Union[str, Sequence[str], None] = None,
    ctd_conditions: Optional[PathLike] = None,
    ctd_tracking: Union[bool, Dict[str, Any]] = False,
    in_random_order: bool = False,
    auto_track: bool = True,
    n_tracks: Optional[int] = None,
    animal_names: Optional[Sequence[str]] = None,
    identity_only: bool = False,
    # Accepted for DeepLabCut compatibility; they change nothing here (see the docstring).
    save_as_df: bool = False,
    use_shelve: bool = False,
    robust_nframes: bool = False,
    show_gpu_memory: bool = False,
    # posebatch's own options
    scorer: Optional[str] = None,
    config_path: Optional[PathLike] = None,
    snapshot: Optional[PathLike] = None,
    conditions_model: Optional[PathLike] = None,
    boxes: Optional[PathLike] = None,
    frames: Optional[Sequence[Optional[int]]] = None,
    threads: Optional[int] = None,
    half: bool = False,
    channels_last: Optional[bool] = None,
    precision: str = "float32",
    resume: bool = False,
    progress: Union[bool, ProgressCallback] = True,
) -> str:
    """Analyses videos with a DeepLabCut (PyTorch) model and writes DeepLabCut's files.

    Mirrors ``deeplabcut.analyze_videos``: ``<video stem><scorer>.h5`` (and ``.csv`` with
    ``save_as_csv``), ``_meta.pickle``, and for multi-animal models ``_full.pickle`` and
    ``_assemblies.pickle``, then (``auto_track``) the tracklets ``_el.pickle`` and the tracked
    ``_el.h5`` (``_bx``/``_sk`` by the project's ``default_track_method``), next to each video or
    in ``destfolder``. Videos whose outputs exist are skipped unless ``overwrite`` (a skipped
    multi-animal video whose tracked file is missing is tracked).

    Args:
        model_or_config: a DeepLabCut project's ``config.yaml`` (the model of ``shuffle`` /
            ``trainingsetindex`` / the project's iteration is found as DeepLabCut finds it, and
            the outputs get DeepLabCut's scorer), or a model: an exported ``.pt``, a snapshot
            ``.pt``, a training folder, a TorchScript file or folder.
        videos: a video, a folder of videos, or a list of them.
        videotype / video_extensions: extension(s) a video must have (folders: default all
            of DeepLabCut's video extensions).
        snapshot_index, detector_snapshot_index: project snapshots (default: config.yaml's).
        batch_size: frames (top-down: crops) per forward pass; default config.yaml's for a
            project, else 8; ``"auto"`` times a few sizes on the first video.
        ctd_conditions: CTD models: a predictions file (.h5, .json, pickle) of condition
            poses; or give ``conditions_model`` (a bottom-up model run alongside).
        ctd_tracking: CTD tracking (True, or a dict of DeepLabCut's CTDTrackingConfig keys).
        in_random_order: analyse the videos in random order (default: sorted).
        auto_track: multi-animal models: tracklets and stitching after each video, as
            DeepLabCut's ``convert_detections2tracklets`` and ``stitch_tracklets`` (settings from
            the model folder's ``test/inference_cfg.yaml``); False stops at the assemblies.
        n_tracks, animal_names, identity_only: the tracking's, as DeepLabCut's.
        save_as_df, use_shelve, robust_nframes, show_gpu_memory: DeepLabCut's; accepted so
            that calls port unchanged, without effect: posebatch always writes the .h5,
            counts frames by decoding, and keeps memory flat.
        scorer: the scorer level of the outputs (default: DeepLabCut's).
        frames: (start, stop) frame range; ``stop`` None = to the end.
        threads: LibTorch threads (default: all cores).
        channels_last: NHWC native networks, 1.2-1.3x faster on CPU (None: NHWC for bottom-up
            and CTD models, scores within 1e-4 of DeepLabCut's; NCHW, DeepLabCut's order and
            scores within 1e-5, for top-down models).
        precision: ``"float32"``; ``"bf16"``: bfloat16 on CPUs with AVX512-BF16 / AMX;
            ``"int8"``: int8 backbone convolutions on CPUs with VNNI / AMX, activation ranges
            measured on the first frame (faster still; keypoints move more than with bf16:
            p99 1.7 px on DeepLabCut's open-field frames). Elsewhere float32 with a note.
        progress: a tqdm bar per video (when tqdm is installed), False for none, or a
            callable ``progress(video, frames_done, frames_total)``.

    Returns:
        The scorer name (the suffix of the outputs' names), as DeepLabCut returns it.

    Raises:
        FileNotFoundError: a model, project folder or video does not exist.
        ValueError: a bad argument (batch size, snapshot index, crop, ...).
        KeyboardInterrupt: Ctrl-C (or a Jupyter interrupt): the run stopped; the video being
            analysed has no outputs (finished videos keep theirs).
        posebatch.Error: a video or model could not be read (the message names the file);
            the other videos were still analysed.
    """
    if video_extensions is not None and videotype is not None:
        raise ValueError("give videotype or video_extensions, not both")
    resolved = resolve_model(model_or_config, shuffle, trainingsetindex, modelprefix, snapshot_index,
                             detector_snapshot_index)
    if resolved.batch_size is None:
        resolved.batch_size = 8  # posebatch's (and DeepLabCut's video analysis) default
    paths = collect_videos(videos, video_extensions if video_extensions is not None else videotype)
    if in_random_order:
        random.shuffle(paths)
    if not paths:
        raise FileNotFoundError(f"no videos found in {videos!r}" + (f" with type {videotype!r}" if videotype else ""))
    extra = _extra(config_path, snapshot, threads, half, channels_last, resume, frames, ctd_conditions,
                   conditions_model, ctd_tracking, boxes, precision)
    extra.update(_tracking_options(resolved, auto_track, n_tracks, animal_names, identity_only))
    options = _options(resolved, device=device, destfolder=destfolder, save_as_csv=save_as_csv,
                       batch_size=batch_size, detector_batch_size=detector_batch_size, overwrite=overwrite,
                       cropping=cropping, scorer=scorer, extra=extra)
    result = _run(resolved.model_path, paths, "videos", options, progress)
    return result["scorer"]


def analyze_images(
    model_or_config: PathLike,
    images: Union[PathLike, Sequence[PathLike]],
    *,
    shuffle: int = 1,
    trainingsetindex: int = 0,
    snapshot_index: Union[int, str, None] = None,
    detector_snapshot_index: Union[int, str, None] = None,
    device: str = "cpu",
    destfolder: Optional[PathLike] = None,
    batch_size: Union[int, str, None] = None,
    detector_batch_size: Optional[int] = None,
    modelprefix: str = "",
    save_as_csv: bool = False,
    overwrite: bool = False,
    scorer: Optional[str] = None,
    progress: Union[bool, ProgressCallback] = True,
) -> str:
    """Analyses images (files or folders of PNG / JPEG) as DeepLabCut's ``analyze_images``.

    Writes ``image_predictions_<scorer>.h5`` in the first image's folder (or ``destfolder``).
    Arguments and errors as :func:`analyze_videos`. Returns the scorer name.
    """
    resolved = resolve_model(model_or_config, shuffle, trainingsetindex, modelprefix, snapshot_index,
                             detector_snapshot_index)
    if resolved.batch_size is None:
        resolved.batch_size = 8
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    inputs: List[str] = []
    for i in map(os.fspath, images):
        if not os.path.exists(i):
            raise FileNotFoundError(f"{i}: no such image or folder")
        if os.path.isdir(i):
            listed = _posebatch.list_images(i)
            if not listed:
                raise FileNotFoundError(f"{i}: folder holds no images (.png, .jpg, .jpeg)")
            inputs.extend(listed)
        else:
            inputs.append(i)
    options = _options(resolved, device=device, destfolder=destfolder, save_as_csv=save_as_csv,
                       batch_size=batch_size, detector_batch_size=detector_batch_size, overwrite=overwrite,
                       cropping=None, scorer=scorer, extra={})
    result = _run(resolved.model_path, inputs, "images", options, progress)
    return result["scorer"]
