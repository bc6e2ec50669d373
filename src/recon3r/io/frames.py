"""Frames of a stream, one at a time: from a folder or list of images, or from a video file (imageio).

Frames are yielded lazily as `recon3r.io.images.View`s (resized and cropped like photos, see
`recon3r.io.images`), so a long video is never held in memory. Videos are read with imageio's
ffmpeg backend (the `video` extra: `pip install 'recon3r[video]'`), imported only when a video is
given. Frame names: the file name for images, `<video stem>_<frame index:06d>` for videos.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from recon3r.errors import ConfigError, ImageLoadError
from recon3r.io.images import (
    View,
    check_size,
    list_images,
    load_view,
    plan_resize,
    resize_and_crop,
    view_from_pil,
)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")

FrameSource = str | os.PathLike | Sequence[str | os.PathLike]


def video_path(source: FrameSource) -> Path | None:
    """The video file `source` names (a single path, or a one-element list, with a video extension), else None."""
    if isinstance(source, (str, os.PathLike)):
        paths = [Path(source)]
    else:
        paths = [Path(p) for p in source]
    if len(paths) == 1 and paths[0].suffix.lower() in VIDEO_EXTENSIONS:
        return paths[0]
    return None


def iter_frames(source: FrameSource, size: int, *, every: int = 1, max_frames: int | None = None) -> Iterator[View]:
    """Yield the stream's frames in order: a video file, a folder (sorted by name) or image files.

    `every`: keep one frame in `every`; `max_frames`: stop after this many kept frames.
    Raises ImageLoadError naming the file that cannot be read, ConfigError for bad options.
    """
    check_size(size)
    if every < 1:
        raise ConfigError(f"every must be a positive frame step, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be positive, got {max_frames}")
    video = video_path(source)
    if video is not None:
        yield from _video_frames(video, size, every, max_frames)
        return
    paths = list_images(source)[::every]
    if not paths:
        raise ImageLoadError(f"no frames found in {source}")
    for idx, path in enumerate(paths[:max_frames]):
        yield load_view(path, idx, size=size)


def _video_frames(path: Path, size: int, every: int, max_frames: int | None) -> Iterator[View]:
    if not path.is_file():
        raise ImageLoadError(f"video file {path} does not exist")
    try:
        import imageio.v3 as iio
    except ImportError:
        raise ConfigError("reading video files needs imageio with ffmpeg: pip install 'recon3r[video]'") from None
    try:
        frames = iter(iio.imiter(path))
    except Exception as err:  # imageio raises assorted errors for unreadable or unsupported files
        raise ImageLoadError(f"could not open video {path}: {err}") from None
    transform = None
    kept = 0
    for index in range(10**12):
        try:
            frame = next(frames)
        except StopIteration:
            break
        except Exception as err:
            raise ImageLoadError(f"could not decode frame {index} of video {path}: {err}") from None
        if index % every:
            continue
        image = Image.fromarray(frame).convert("RGB")
        if transform is None:
            try:
                transform = plan_resize(image.size, size=size)
            except ImageLoadError as err:
                raise ImageLoadError(f"{path}: {err}") from None
        yield view_from_pil(resize_and_crop(image, transform, size), kept, name=f"{path.stem}_{index:06d}",
                            transform=transform, path=path)
        kept += 1
        if max_frames is not None and kept >= max_frames:
            break
    if kept == 0:
        raise ImageLoadError(f"video {path} has no frames")
