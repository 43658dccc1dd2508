"""Checkpoints: safetensors weights + JSON metadata (config, layout, model card).

Loading runs no code from the file: safetensors holds only tensors and strings.
A file that is not ours, or is damaged, is refused with CheckpointError.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from explorer.models.registry import MODELS, config_from_dict, config_to_dict

FORMAT = "latent-explorer/checkpoint"
PERFORMANCE_FORMAT = "latent-explorer/performance-checkpoint"  # the performance-style CVAE (explorer.models.virtuoso)
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason."""


def save_checkpoint(path, model, *, card: dict | None = None, extras: dict | None = None) -> Path:
    """Write ``model`` (weights, config, layout), its ``card`` and ``extras``
    (name → tensor, e.g. attribute vectors) to ``path`` (.safetensors)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for k, v in (extras or {}).items():
        tensors[f"extra.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = {
        "format": FORMAT,
        "version": str(VERSION),
        "model": model.name,
        "config": json.dumps(config_to_dict(model.config)),
        "layout": json.dumps(model.layout.to_dict()),
        "card": json.dumps(card or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def is_performance_checkpoint(path) -> bool:
    """True when ``path`` is a readable safetensors file tagged as a performance-style checkpoint."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == PERFORMANCE_FORMAT
    except Exception:  # not a file, not safetensors: the melody loader reports why
        return False


def read_metadata(path) -> dict:
    """The metadata of a checkpoint (config, layout and card parsed), or CheckpointError."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path.name} is not a Latent Explorer checkpoint: not a safetensors file ({exc})") from None
    if meta.get("format") == PERFORMANCE_FORMAT:
        raise CheckpointError(f"{path.name} is a performance-style model, not a melody model: "
                              "open it on the Performance style page")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not a Latent Explorer checkpoint "
                              f"(no '{FORMAT}' format tag)")
    if int(meta.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path.name} has checkpoint version {meta['version']}; this version reads ≤ {VERSION}")
    if meta.get("model") not in MODELS:
        raise CheckpointError(f"{path.name} holds an unknown model {meta.get('model')!r}; known: {sorted(MODELS)}")
    try:
        out = dict(meta)
        for k in ("config", "layout", "card"):
            out[k] = json.loads(meta.get(k) or "{}")
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path.name} is damaged: bad metadata ({exc})") from None
    return out


def load_checkpoint(path, device="cpu"):
    """(model in eval mode on ``device``, metadata, extras) of a checkpoint."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        cfg = config_from_dict(meta["model"], meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{Path(path).name} has a config this version cannot build ({exc})") from None
    model = MODELS[meta["model"]][0](cfg)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{Path(path).name} is damaged ({exc})") from None
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extras = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name}: the weights do not fit its config ({str(exc)[:300]})") from None
    return model.to(device).eval(), meta, extras
