"""posebatch: DeepLabCut (PyTorch engine) pose models over videos, from Python.

    import posebatch
    scorer = posebatch.analyze_videos("project/config.yaml", ["videos/"], save_as_csv=True)
    df = posebatch.read("videos/mouse1" + scorer + ".h5")

    predictor = posebatch.Predictor("exported_model.pt", batch_size=8)
    poses = predictor.predict(frame)  # uint8 (H, W, 3) -> float32 (individuals, keypoints, 3)

The engine is C++ (LibTorch, FFmpeg); it shares the LibTorch of the ``torch`` package when
both are imported. Logs go to the ``posebatch`` logger.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _posebatch
from ._analyze import analyze_images, analyze_videos
from ._project import PathLike, collect_videos, resolve_model
from ._tracking import convert_detections2tracklets, stitch_tracklets

Error = _posebatch.Error

__all__ = ["Error", "Predictor", "analyze_images", "analyze_videos", "convert_detections2tracklets", "read",
           "resolve_model", "collect_videos", "stitch_tracklets"]


class Predictor:
    """Poses of frames held in memory (the embedded / live use, as DeepLabCut-Live).

    No file is read or written per call. Every model kind runs (bottom-up, top-down with its
    detector, CTD with a bottom-up ``conditions_model``), through the same pipeline as
    :func:`analyze_videos`, so a frame gets the numbers the .h5 of a video holding it has.
    ``predict`` releases the GIL while it runs; calls on one Predictor are serialised.
    """

    def __init__(self, model: PathLike, batch_size: int = 8, device: str = "cpu", *,
                 shuffle: int = 1, trainingsetindex: int = 0, modelprefix: str = "",
                 snapshot_index: Union[int, str, None] = None,
                 detector_snapshot_index: Union[int, str, None] = None, config_path: Optional[PathLike] = None,
                 snapshot: Optional[PathLike] = None, detector_batch_size: int = 1,
                 threads: Optional[int] = None, half: bool = False, channels_last: Optional[bool] = None,
                 conditions_model: Optional[PathLike] = None, precision: str = "float32"):
        """Loads `model`: an exported .pt, a snapshot .pt, a training folder, a TorchScript file
        or folder, or a DeepLabCut project's config.yaml (its shuffle's model, as
        :func:`analyze_videos` finds it)."""
        for name, value in (("batch_size", batch_size), ("detector_batch_size", detector_batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        resolved = resolve_model(model, shuffle, trainingsetindex, modelprefix, snapshot_index,
                                 detector_snapshot_index)
        options = {  # the keys of the engine's option table (posebatch/option_table.h)
            "batch_size": batch_size, "device": device, "detector_batch_size": detector_batch_size,
            "config": os.fspath(config_path) if config_path is not None else None,
            "snapshot": os.fspath(snapshot) if snapshot is not None else (resolved.snapshot or None),
            "detector_snapshot": resolved.detector_snapshot or None,
            "threads": threads, "half": half, "channels_last": channels_last, "precision": precision,
            "conditions_model": os.fspath(conditions_model) if conditions_model is not None else None,
        }
        self._engine = _posebatch.Predictor(resolved.model_path, options)
        self.model_path = resolved.model_path

    def predict(self, frames: np.ndarray, *, unique: bool = False
                ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Poses of RGB frames.

        Args:
            frames: uint8 (H, W, 3) for one frame or (N, H, W, 3) for a batch, RGB order.
                Frames of different sizes may be given in different calls.
            unique: also return the unique bodyparts (multi-animal projects).

        Returns:
            float32 (individuals, keypoints, 3) or (N, individuals, keypoints, 3): x, y in frame
            pixels and the likelihood, NaN where a keypoint was not found (single-animal
            models: one individual). With ``unique``: (poses, unique_poses), the latter
            (U, 3) or (N, U, 3).
        """
        return self._engine.predict(frames, unique)

    __call__ = predict

    @property
    def bodyparts(self) -> Sequence[str]:
        return self._engine.bodyparts

    @property
    def individuals(self) -> Sequence[str]:
        return self._engine.individuals

    @property
    def unique_bodyparts(self) -> Sequence[str]:
        return self._engine.unique_bodyparts

    @property
    def scorer(self) -> str:
        return self._engine.scorer


def read(h5: PathLike, key: Optional[str] = None) -> Any:
    """The pandas DataFrame of a DeepLabCut predictions file (.h5 or .csv) posebatch wrote."""
    import pandas as pd  # only needed here

    path = os.fspath(h5)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such predictions file")
    if path.lower().endswith(".csv"):
        with open(path, "r", encoding="utf-8") as f:
            header = [f.readline() for _ in range(4)]
        levels = 4 if header[1].startswith("individuals,") else 3
        return pd.read_csv(path, header=list(range(levels)), index_col=0)
    try:
        return pd.read_hdf(path, key=key or "df_with_missing")
    except KeyError:
        if key is not None:
            raise
        return pd.read_hdf(path)
