"""Checkpoints of every model: safetensors weights + JSON metadata (format tag, config, card).

Two formats, one per checkpoint kind of :mod:`explorer.models.registry`:

- ``melody`` (``latent-explorer/checkpoint``): weights, config, latent layout, card and extras
  (name → tensor, e.g. attribute vectors) of a melody model;
- ``performance`` (``latent-explorer/performance-checkpoint``): weights, config, card and the
  style table (one z per known performance, with labels) of the performance-style CVAE.

Loading runs no code from the file: safetensors holds only tensors and strings. A file that
is not ours, is damaged, or is of the other kind is refused with CheckpointError naming why.
Files are written to a temporary name, made readable by all (mode 644), then renamed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from explorer.models.registry import config_from_dict, config_to_dict, names, spec_of
from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE
from explorer.paths import assets_dir

FORMAT = "latent-explorer/checkpoint"
PERFORMANCE_FORMAT = "latent-explorer/performance-checkpoint"
FORMATS = {"melody": FORMAT, "performance": PERFORMANCE_FORMAT}  # checkpoint kind → format tag
VERSION = 1
#: Where each kind is looked for: (folder under assets/, environment variable naming more folders).
FOLDERS = {"melody": ("checkpoints", "LATENT_EXPLORER_MODELS"),
           "performance": ("performance", "LATENT_EXPLORER_PERFORMANCE_MODELS")}
FILE_MODE = 0o644
#: The checkpoint listed first (the app's default model) when it is there: the shipped 2-bar model
#: that meets every target of its card (issue 12); the others follow by name.
DEFAULT_FIRST = {"melody": "arvae-z64-nottingham-oneills-airds-essen-pop909"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason."""


# ------------------------------------------------------------------------------------ finding them
def checkpoint_dirs(kind: str = "melody") -> list[Path]:
    """assets/<folder of ``kind``>, plus the folders in its environment variable (os.pathsep-separated)."""
    if kind not in FOLDERS:
        raise ValueError(f"kind must be one of {list(FOLDERS)}, got {kind!r}")
    sub, env = FOLDERS[kind]
    return [assets_dir() / sub] + [Path(p) for p in os.environ.get(env, "").split(os.pathsep) if p]


def available_checkpoints(kind: str = "melody") -> dict[str, Path]:
    """name (file stem) → path of every ``*.safetensors`` in the folders of ``kind``
    (:func:`checkpoint_dirs`; the first folder holding a name wins), by name, except that
    :data:`DEFAULT_FIRST`'s (the app's default model) comes first when it is there."""
    out = {}
    for d in checkpoint_dirs(kind):
        if d.is_dir():
            for p in sorted(d.glob("*.safetensors")):
                out.setdefault(p.stem, p)
    first = DEFAULT_FIRST.get(kind)
    return ({first: out.pop(first)} | out) if first in out else out


def _header(path) -> dict:
    """The metadata of a safetensors file's header ({} when it is not a readable one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # not a file, not safetensors: the loaders report why
        return {}


def checkpoint_kind(path) -> str | None:
    """The kind (``melody`` | ``performance``) of a readable safetensors file with one of our
    format tags, else None. Reads only the header."""
    tag = _header(path).get("format")
    return next((kind for kind, fmt in FORMATS.items() if fmt == tag), None)


def checkpoint_model(path) -> str | None:
    """The model name (``model.name``: ``ec2vae``, ``virtuoso``, …) a checkpoint of ours records,
    else None. Reads only the header."""
    header = _header(path)
    return header.get("model") if header.get("format") in FORMATS.values() else None


# ------------------------------------------------------------------------------------ writing
def _write(path, tensors: dict, meta: dict) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, FILE_MODE)  # safetensors writes 600; a shipped or shared model must be readable
    tmp.replace(path)
    return path


def _weights(model) -> dict:
    return {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(path, model, *, card: dict | None = None, extras: dict | None = None) -> Path:
    """Write melody model ``model`` (weights, config, layout), its ``card`` and ``extras``
    (name → tensor, e.g. attribute vectors) to ``path`` (.safetensors)."""
    tensors = _weights(model)
    for k, v in (extras or {}).items():
        tensors[f"extra.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = {"format": FORMAT, "version": str(VERSION), "model": model.name,
            "config": json.dumps(config_to_dict(model.config)), "layout": json.dumps(model.layout.to_dict()),
            "card": json.dumps(card or {})}
    return _write(path, tensors, meta)


def save_performance_checkpoint(path, model: VirtuosoVAE, *, card: dict | None = None,
                                styles: dict | None = None) -> Path:
    """Write the performance model ``model``, its ``card`` and ``styles`` ({"z": (N, Z) tensor,
    "labels": [dict, …]}) to ``path`` (.safetensors, tagged PERFORMANCE_FORMAT)."""
    tensors = _weights(model)
    if styles:
        tensors["styles.z"] = torch.as_tensor(styles["z"], dtype=torch.float32).contiguous()
    meta = {"format": PERFORMANCE_FORMAT, "version": str(VERSION), "model": model.name,
            "config": json.dumps(model.config.to_dict()), "card": json.dumps(card or {}),
            "styles": json.dumps((styles or {}).get("labels", []))}
    return _write(path, tensors, meta)


# ------------------------------------------------------------------------------------ reading
def read_metadata(path) -> dict:
    """The metadata of a melody checkpoint (config, layout and card parsed), or CheckpointError."""
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
    known = names("melody")
    if meta.get("model") not in known:
        raise CheckpointError(f"{path.name} holds an unknown model {meta.get('model')!r}; known: {known}")
    try:
        out = dict(meta)
        for k in ("config", "layout", "card"):
            out[k] = json.loads(meta.get(k) or "{}")
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path.name} is damaged: bad metadata ({exc})") from None
    return out


def load_checkpoint(path, device="cpu"):
    """(melody model in eval mode on ``device``, metadata, extras) of a checkpoint."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        cfg = config_from_dict(meta["model"], meta["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{Path(path).name} has a config this version cannot build ({exc})") from None
    model = spec_of(meta["model"]).model(cfg)
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


def load_performance_checkpoint(path, device="cpu"):
    """(performance model in eval mode on ``device``, card, styles) of a performance checkpoint;
    styles is {"z": (N, Z) tensor, "labels": [...]} (empty when the file has none)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta, tensors = f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint file at {path}") from None
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{path.name} is not a safetensors file ({str(exc)[:200]})") from None
    if meta.get("format") != PERFORMANCE_FORMAT:
        raise CheckpointError(f"{path.name} is not a performance-style checkpoint (format {meta.get('format')!r}, "
                              f"expected {PERFORMANCE_FORMAT!r}); melody models open in the sidebar's model picker")
    try:
        model = VirtuosoVAE(VirtuosoConfig.from_dict(json.loads(meta["config"])))
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        card = json.loads(meta.get("card") or "{}")
        labels = json.loads(meta.get("styles") or "[]")
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name} is damaged or from another version ({str(exc)[:200]})") from None
    styles = {"z": tensors.get("styles.z", torch.zeros(0, model.config.z_dims)), "labels": labels}
    return model.to(device).eval(), card, styles
