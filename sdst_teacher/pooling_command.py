"""``vtg pool-features``: token-level backbone features to the (T, K, F) files SDST reads (SDST Eq. 15).

::

    vtg pool-features --input DIR --out DIR --method cls|avg|attn [--levels 3,6,9,12]
                      [--attn-weights FILE] [--attn-heads 16] [--seed 0] [--json]

Input: one ``{vid}.npz`` per video with key ``tokens`` of shape (T, K, L_v, F): T clips, K backbone
levels in layer order, L_v tokens per clip (token 0 is the class token), F channels. Levels are
numbered 1..K; ``--levels`` keeps those layer numbers, in the order given (default: all K).
Output: ``{vid}.npz`` with key ``features`` (T, K', F') float32, K' the number of kept levels.
``--method attn`` re-uses one frozen AdaptivePool for every level: its weights come from
``--attn-weights`` (InternVideo2's ``clip_projector``, see :mod:`sdst_teacher.pooling`) or, without a
file, are fixed by ``--seed`` (untrained: for synthetic data only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from sdst_teacher.pooling import METHODS, AdaptivePool, load_adaptive_pool, pool_tokens, seeded_adaptive_pool
from vtg.atomic import atomic_folder, check_output
from vtg.data.npz import read_npz_array, write_npz
from vtg.errors import UserError, check_seed
from vtg.json_file import to_json

TOKENS_KEY = "tokens"
FEATURES_KEY = "features"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # not argparse-required: a --config file may set them, which argparse's required check does not see
    parser.add_argument("--input", type=Path, help="folder of {vid}.npz with 'tokens' (T, K, L_v, F) (required)")
    parser.add_argument("--out", type=Path, help="folder to write {vid}.npz with 'features' (T, K, F) (required)")
    parser.add_argument("--method", help="pool over L_v: cls (class token), avg (mean) or attn (frozen AdaptivePool)")
    parser.add_argument("--levels", help="comma-separated 1-based level numbers to keep, e.g. 3,6,9,12 (default all)")
    parser.add_argument("--attn-weights", type=Path, help="frozen AdaptivePool weights (.npz or PyTorch state dict)")
    parser.add_argument("--attn-heads", type=int, default=16, help="heads of the AdaptivePool (InternVideo2: 16)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the AdaptivePool when no weights file is given")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def parse_levels(text: str | None) -> list[int] | None:
    """``"3,6,9,12"`` (a config's YAML list [3, 6, 9, 12] arrives joined so) -> [3, 6, 9, 12]; positive
    integers, none repeated."""
    if text is None:
        return None
    try:
        levels = [int(part) for part in text.split(",")]
    except (TypeError, ValueError):
        raise UserError(f"option --levels: expected comma-separated integers, got {text!r}") from None
    if any(level < 1 for level in levels) or len(set(levels)) != len(levels):
        raise UserError(f"option --levels: levels are distinct numbers from 1, got {text!r}")
    return levels


def pool_files(files: list[Path], folder: Path, args: argparse.Namespace, levels: list[int] | None) -> tuple[int, int]:
    """Pool every token file of ``files`` into ``folder``; return the features' (levels, dimension)."""
    pool: AdaptivePool | None = None
    if args.method == "attn" and args.attn_weights is not None:
        pool = load_adaptive_pool(args.attn_weights, args.attn_heads)
    num_levels = feature_dim = None
    for path in tqdm(files, desc="vtg pool-features", unit="video", file=sys.stderr):
        tokens = read_npz_array(path, TOKENS_KEY, (4,), "token file")  # (T, K, L_v, F)
        if levels is not None:
            missing = [level for level in levels if level > tokens.shape[1]]
            if missing:
                raise UserError(f"{path}: has levels 1..{tokens.shape[1]}, option --levels asks for {missing}")
            tokens = tokens[:, [level - 1 for level in levels]]  # (T, K', L_v, F)
        if args.method == "attn":
            if pool is None:
                pool = seeded_adaptive_pool(tokens.shape[-1], args.attn_heads, args.seed)
            expected = pool.norm1_k.normalized_shape[0]
            if tokens.shape[-1] != expected:
                raise UserError(f"{path}: tokens have F={tokens.shape[-1]}, the attention pool expects {expected}")
        features = pool_tokens(tokens, args.method, pool)  # (T, K', F')
        write_npz(folder / path.name, **{FEATURES_KEY: features})
        num_levels, feature_dim = features.shape[1:]
    return num_levels, feature_dim


def run(args: argparse.Namespace) -> int:
    for option in ("input", "out", "method"):
        if getattr(args, option) is None:
            raise UserError(f"option --{option}: required (on the command line or in --config)")
    if args.method not in METHODS:
        raise UserError(f"option --method: {args.method!r} is not one of {', '.join(METHODS)}")
    args.input, args.out = Path(args.input), Path(args.out)
    check_output(args.out, "folder")
    levels = parse_levels(args.levels)
    check_seed(args.seed, "option --seed")
    if args.method != "attn" and args.attn_weights is not None:
        raise UserError("option --attn-weights: only used with --method attn")
    if args.attn_heads < 1:
        raise UserError(f"option --attn-heads: must be at least 1, got {args.attn_heads}")
    if not args.input.is_dir():
        raise UserError(f"{args.input}: input folder not found")
    files = sorted(args.input.glob("*.npz"))
    if not files:
        raise UserError(f"{args.input}: no .npz token files in the folder")
    if args.out.resolve() == args.input.resolve():
        raise UserError(f"{args.out}: output folder must differ from the input folder")
    with atomic_folder(args.out) as folder:
        # every video's features into a temporary folder, moved into place when all are pooled: a bad token
        # file midway leaves nothing behind
        num_levels, feature_dim = pool_files(files, folder, args, levels)

    summary = {
        "videos": len(files),
        "out": str(args.out),
        "method": args.method,
        "levels": levels or list(range(1, num_levels + 1)),
        "feature_dim": feature_dim,
    }
    if args.json:
        print(to_json(summary))
    else:
        what = f"{args.method}, levels {summary['levels']}"
        print(f"pooled {len(files)} videos ({what}) into {args.out}: features (T, {num_levels}, {feature_dim})")
    return 0
