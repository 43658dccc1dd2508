"""Which device runs inference: the GPU when there is one, else the CPU."""
from __future__ import annotations


def pick_device(choice: str = "auto"):
    """A torch.device for ``auto`` (cuda if available, else cpu), ``cpu`` or ``cuda``."""
    import torch

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice not in ("cpu", "cuda") and not choice.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {choice!r}")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no CUDA GPU; use --device auto or cpu")
    return torch.device(choice)


def describe_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def set_interactive_threads() -> int:
    """Use few torch CPU threads for interactive, one-melody inference.

    On a small, busy CPU a second thread makes a one-melody decode 10× slower or
    worse (threads wait on each other); batch encodes lose less than that gains.
    ``LATENT_EXPLORER_THREADS`` overrides (default 1). Returns the count set.
    """
    import os

    import torch

    try:
        n = max(1, int(os.environ.get("LATENT_EXPLORER_THREADS", "1")))
    except ValueError:
        n = 1
    if not torch.cuda.is_available():
        torch.set_num_threads(n)
    return n
