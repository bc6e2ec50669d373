"""Write the bundled depth-to-3D example (examples/depth3d_example/): one procedural object, exact depth, true focal.

    python examples/make_depth3d_example.py [--out examples/depth3d_example] [--size 128]

The object is scene 0 of the procedural 'example' split (kind 'isolated': one object alone, depth only
on it), never used for training or testing. The committed example was drawn when that kind was named
'object'; the rename moved its seed stream, so this script now draws another object of the same kind
(its camera.json says so). Written: depth.png (16-bit, millimetres, 0 = no depth, what a
depth network or sensor export looks like), image.png (its colours) and camera.json (the true focal in
pixels and the field of view, to compare with what `recon3r depth-to-3d` recovers).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="examples/depth3d_example")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()

    from recon3r.data import Procedural

    view = Procedural(scenes=1, views=1, kind="isolated", size=args.size, split="example", num_views=1).scene(0)[0]
    depth_mm = np.round(view["depthmap"] * 1000).astype(np.uint16)
    rgb = ((view["img"].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    k = view["camera_intrinsics"].astype(np.float64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(depth_mm).save(out / "depth.png")
    Image.fromarray(rgb).save(out / "image.png")
    height, width = depth_mm.shape
    camera = {"focal_px": float(k[0, 0]), "principal_point_px": [float(k[0, 2]), float(k[1, 2])],
              "width": width, "height": height, "horizontal_fov_deg": math.degrees(2 * math.atan(width / 2 / k[0, 0])),
              "depth_unit": "millimetre", "source": f"Procedural(scenes=1, views=1, kind='isolated', size={args.size}, "
              "split='example').scene(0)"}
    (out / "camera.json").write_text(json.dumps(camera, indent=1) + "\n")
    print(f"wrote {out}: {width}x{height}, true focal {camera['focal_px']:.1f} px "
          f"(horizontal FOV {camera['horizontal_fov_deg']:.1f}°), {int((depth_mm > 0).sum())} pixels with depth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
