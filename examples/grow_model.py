"""Grow a trained pair model deeper, or store one in float16: the two model steps of the sim-to-real recipe.

    python examples/grow_model.py grow --src MODEL_DIR --out DIR --enc-depth 12 --dec-depth 8
    python examples/grow_model.py half --src runs/.../checkpoint-last --out DIR

`grow` builds the same `AsymmetricCroCo3DStereo` with more encoder and decoder blocks, copies every
trained weight into it, and starts each added block as an identity: its residual branches end in
zero output projections (attention, cross-attention, MLP), so the grown model computes exactly what
the trained one did and training continues from there instead of from a perturbed network.

`half` writes the weights as float16 (half the disk size; `recon3r.load_model` casts them back to the
model's float32 on load) and prints the size, which the shipping budget caps at 25 MB.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

# Output projections of a block's residual branches: zero them and the block is an identity.
RESIDUAL_OUTPUTS = ("attn.proj", "cross_attn.proj", "mlp.fc2")
SHIPPING_BUDGET_MB = 25.0


def grow(src: str | Path, enc_depth: int, dec_depth: int) -> torch.nn.Module:
    """The model at `src` with `enc_depth` encoder and `dec_depth` decoder blocks; added blocks are identities."""
    from recon3r.models import build_model, load_model

    trained = load_model(src, device="cpu")
    config = dict(trained.config)
    if enc_depth < config["enc_depth"] or dec_depth < config["dec_depth"]:
        raise SystemExit(f"grow: depths only grow ({config['enc_depth']}, {config['dec_depth']} → {enc_depth}, {dec_depth})")
    added = {"enc_blocks": range(config["enc_depth"], enc_depth), "dec_blocks": range(config["dec_depth"], dec_depth),
             "dec_blocks2": range(config["dec_depth"], dec_depth)}
    config.update(enc_depth=enc_depth, dec_depth=dec_depth)
    torch.manual_seed(0)
    grown = build_model(type(trained).__name__, config)
    state = grown.state_dict()
    for name, value in trained.state_dict().items():
        state[name] = value.clone()
    for name in state:
        prefix, _, rest = name.partition(".")
        index, _, parameter = rest.partition(".")
        if prefix in added and index.isdigit() and int(index) in added[prefix] \
                and parameter.rsplit(".", 1)[0] in RESIDUAL_OUTPUTS:
            state[name] = torch.zeros_like(state[name])
    grown.load_state_dict(state)
    return grown


def save_half(model: torch.nn.Module, out: str | Path) -> float:
    """Save `model` with float16 weights into `out`; returns the weights file's size in MB (10^6 bytes)."""
    from recon3r.models import save_model
    from recon3r.models.checkpoint import WEIGHTS_NAME

    save_model(model.half(), out)
    model.float()
    return (Path(out) / WEIGHTS_NAME).stat().st_size / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    grow_parser = sub.add_parser("grow", help="deeper model from a trained one, added blocks as identities")
    grow_parser.add_argument("--src", required=True)
    grow_parser.add_argument("--out", required=True)
    grow_parser.add_argument("--enc-depth", type=int, required=True)
    grow_parser.add_argument("--dec-depth", type=int, required=True)
    half_parser = sub.add_parser("half", help="store a model's weights in float16")
    half_parser.add_argument("--src", required=True)
    half_parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from recon3r.models import load_model, save_model

    if args.action == "grow":
        model = grow(args.src, args.enc_depth, args.dec_depth)
        save_model(model, args.out)
        count = sum(p.numel() for p in model.parameters())
        print(f"grew {args.src} to enc {args.enc_depth} / dec {args.dec_depth} blocks ({count / 1e6:.2f} M parameters) "
              f"→ {args.out}")
        return 0
    model = load_model(args.src, device="cpu")
    size = save_half(model, args.out)
    verdict = "within" if size <= SHIPPING_BUDGET_MB else "OVER"
    print(f"float16 weights of {args.src} → {args.out}: {size:.1f} MB ({verdict} the {SHIPPING_BUDGET_MB:g} MB budget)")
    return 0 if size <= SHIPPING_BUDGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
