"""Benchmark the pair model's forward pass (CPU or an accelerator); prints a Markdown table.

For each configuration (golden tiny, ViT-Base-sized) and resolution (224×224, 512×384), times
`model(view1, view2)` at batch 1 and 8 under `torch.inference_mode()` and reports the median time
per forward (best of the timed runs, and their median), per pair, pairs/s, and the
scaled-dot-product-attention backend torch picks for the encoder's attention shape. Best-of-N is
the headline number because the CPUs may be shared; the load average is printed alongside.

    .venv/bin/python benchmarks/pair_forward.py                # default run, a few minutes on 2 cores
    .venv/bin/python benchmarks/pair_forward.py --quick        # tiny config only
    python benchmarks/pair_forward.py --device cuda --large    # adds ViT-Large (the official DUSt3R size)
    python benchmarks/pair_forward.py --device cuda --large --amp bf16
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time

import torch

from recon3r.models import AsymmetricCroCo3DStereo

INF = float("inf")
COMMON = dict(pos_embed="RoPE100", depth_mode=("exp", -INF, INF), conf_mode=("exp", 1, INF), head_type="linear")
CONFIGS = {
    # The golden `linear_landscape` case's architecture.
    "golden tiny (enc 64/2/4, dec 48/2/4)": dict(
        COMMON, enc_embed_dim=64, enc_depth=2, enc_num_heads=4, dec_embed_dim=48, dec_depth=2, dec_num_heads=4
    ),
    "ViT-Base (enc 768/12/12, dec 512/8/16)": dict(
        COMMON, enc_embed_dim=768, enc_depth=12, enc_num_heads=12, dec_embed_dim=512, dec_depth=8, dec_num_heads=16
    ),
}
# The official DUSt3R ViT-Large encoder with its base decoder (linear head here); slow on CPU, so opt-in.
LARGE = {
    "ViT-Large (enc 1024/24/16, dec 768/12/12)": dict(
        COMMON, enc_embed_dim=1024, enc_depth=24, enc_num_heads=16, dec_embed_dim=768, dec_depth=12, dec_num_heads=12
    ),
}
RESOLUTIONS = {"224×224": (224, 224), "512×384": (384, 512)}  # (H, W), landscape


def sdpa_backend(batch: int, heads: int, tokens: int, head_dim: int, device: torch.device, dtype: torch.dtype) -> str:
    """The SDPA backend torch would choose for q = k = v of this shape, device and dtype."""
    from torch.nn.attention import SDPBackend

    q = torch.empty(batch, heads, tokens, head_dim, device=device, dtype=dtype)
    try:
        choice = torch._fused_sdp_choice(q, q, q)
    except (AttributeError, RuntimeError):
        return "unknown"
    names = {int(b.value): name for name, b in SDPBackend.__members__.items()}
    return names.get(int(choice), str(choice)).lower()


def time_forward(model, batch: int, hw: tuple[int, int], warmup: int, repeats: int,
                 device: torch.device, amp_dtype: torch.dtype | None) -> list[float]:
    H, W = hw
    g = torch.Generator().manual_seed(0)
    shape = torch.tensor([[H, W]] * batch)
    view1 = {"img": (torch.rand(batch, 3, H, W, generator=g) * 2 - 1).to(device), "true_shape": shape}
    view2 = {"img": (torch.rand(batch, 3, H, W, generator=g) * 2 - 1).to(device), "true_shape": shape}
    sync = torch.accelerator.synchronize if device.type != "cpu" else (lambda: None)
    autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
    times = []
    with torch.inference_mode(), autocast:
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            model(view1, view2)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the golden tiny configuration")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="autocast dtype (default: float32)")
    parser.add_argument("--large", action="store_true", help="add the ViT-Large configuration")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[args.amp]
    on_cpu = device.type == "cpu"
    where = "CPU" if on_cpu else f"{device.type} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else device})"

    print(f"- command: `{' '.join(shlex.quote(a) for a in [sys.executable.rsplit('/', 1)[-1], *sys.argv])}`")
    print(f"- machine: {platform.machine()} {platform.processor() or ''} ({os.cpu_count()} logical CPUs), {platform.platform()}")
    print(f"- torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.amp or 'float32'}, {where}, inference_mode")
    print(f"- load average before the run: {_load()} (other processes on the machine slow the timings down)")
    print()
    print(
        "| configuration | params | input | batch | runs | time / forward (best) | median | time / pair (best) "
        "| pairs/s (best) | SDPA backend (encoder) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    configs = {**CONFIGS, **(LARGE if args.large else {})}
    for name, kwargs in configs.items():
        big = kwargs["enc_embed_dim"] >= 512
        if args.quick and big:
            continue
        torch.manual_seed(0)
        model = AsymmetricCroCo3DStereo(**kwargs).eval().to(device)
        n_params = sum(p.numel() for p in model.parameters())
        if not on_cpu:
            torch.accelerator.empty_cache() if hasattr(torch.accelerator, "empty_cache") else None
        for res_name, hw in RESOLUTIONS.items():
            tokens = (hw[0] // 16) * (hw[1] // 16)
            for batch in args.batch_sizes:
                # Few repeats for the big model: one forward at 512×384, batch 8 is tens of seconds on 2 cores.
                if on_cpu:
                    warmup, repeats = (1, 3) if big and batch == 1 else (0, 1) if big else (2, 10)
                else:
                    warmup, repeats = 3, 20
                times = time_forward(model, batch, hw, warmup, repeats, device, amp_dtype)
                seconds, median = min(times), statistics.median(times)
                backend = sdpa_backend(2 * batch, kwargs["enc_num_heads"], tokens,
                                       kwargs["enc_embed_dim"] // kwargs["enc_num_heads"], device, amp_dtype or torch.float32)
                print(
                    f"| {name} | {n_params / 1e6:.2f} M | {res_name} | {batch} | {repeats} | {seconds * 1e3:.1f} ms "
                    f"| {median * 1e3:.1f} ms | {seconds / batch * 1e3:.1f} ms | {batch / seconds:.2f} | {backend} |",
                    flush=True,
                )
    print()
    print(f"- load average after the run: {_load()}")
    return 0


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unavailable"


if __name__ == "__main__":
    raise SystemExit(main())
