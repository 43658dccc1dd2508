"""Work-arounds for libraries that reach the network at import time."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def ensure_partitura_offline() -> Path | None:
    """Give partitura its default soundfont before it is imported.

    ``partitura.utils.fluidsynth`` downloads MuseScore_General.sf3 over FTP at
    import time when pyfluidsynth is installed and the file is missing, which
    fails (and crashes the import) offline. We point that path at pretty_midi's
    General-MIDI soundfont instead; FluidSynth reads it whatever its suffix.
    Returns the path, or None when partitura is not installed or its folder
    cannot be written (then partitura behaves as it always does).
    """
    spec = importlib.util.find_spec("partitura")
    if spec is None or not spec.submodule_search_locations:
        return None
    target = Path(list(spec.submodule_search_locations)[0]) / "assets" / "MuseScore_General.sf3"
    if target.exists():
        return target
    pm_spec = importlib.util.find_spec("pretty_midi")
    if pm_spec is None or not pm_spec.submodule_search_locations:
        return None
    sf2 = Path(list(pm_spec.submodule_search_locations)[0]) / "TimGM6mb.sf2"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        os.symlink(sf2, target)
    except OSError:
        return None
    return target


def quiet_fluidsynth_import() -> None:
    """Import pyfluidsynth with its stdout silenced.

    pyfluidsynth prints "'fluidsynth' was found at …" on stdout when the CI
    environment variable is set, which would corrupt ``--json`` output; pretty_midi
    imports it, so we import it first, quietly. A missing library is not an
    error here (audio reports it later).
    """
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            import fluidsynth  # noqa: F401
        except (ImportError, OSError):
            pass
