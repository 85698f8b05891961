"""Finds the controller: CORRAL_CONTROLLER, else the user's config file, else the all-in-one default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where `corral up` keeps its store, socket and agents when no --data-dir is given."""
    if environ.get("CORRAL_DATA_DIR"):
        return Path(environ["CORRAL_DATA_DIR"])
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    base = Path(environ["XDG_DATA_HOME"]) if environ.get("XDG_DATA_HOME") else home / ".local/share"
    return base / "corral"


def config_file(environ: Mapping[str, str]) -> Path:
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    return base / "corral" / "config"


def _from_config(path: Path) -> str | None:
    """Reads `controller = ADDRESS` from a small key = value file (TOML-compatible)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "controller":
            return value.strip().strip('"').strip("'") or None
    return None


def locate_controller(environ: Mapping[str, str] | None = None) -> str:
    """The controller's address: an http(s) URL or a Unix socket path."""
    env = os.environ if environ is None else environ
    if env.get("CORRAL_CONTROLLER"):
        return env["CORRAL_CONTROLLER"]
    configured = _from_config(config_file(env))
    if configured:
        return configured
    return str(default_data_dir(env) / "corral.sock")
