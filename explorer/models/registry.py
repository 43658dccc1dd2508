"""Model names → classes and configs; presets are made with dataclasses.replace."""
from __future__ import annotations

import dataclasses

from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.models.musicvae import HierarchicalMusicVAE, HierarchicalMusicVAEConfig, MusicVAE, MusicVAEConfig

MODELS = {"ec2vae": (EC2VAE, EC2VAEConfig), "arvae": (ARVAE, ARVAEConfig), "musicvae": (MusicVAE, MusicVAEConfig),
          "musicvae16": (HierarchicalMusicVAE, HierarchicalMusicVAEConfig)}


def config_from_dict(name: str, values: dict):
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    cls = MODELS[name][1]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - fields
    if unknown:
        raise KeyError(f"{name} config has no field(s) {sorted(unknown)}")
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**vals)


def build_model(name: str, **overrides):
    """A fresh model ``name`` with its default config changed by ``overrides``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    model_cls, cfg_cls = MODELS[name]
    fields = {f.name: f.type for f in dataclasses.fields(cfg_cls)}
    unknown = set(overrides) - set(fields)
    if unknown:
        raise KeyError(f"{name} config has no field(s) {sorted(unknown)}; it has {sorted(fields)}")
    cfg = dataclasses.replace(cfg_cls(), **{k: v for k, v in overrides.items() if v is not None})
    return model_cls(cfg)


def config_to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
