"""Finds the controller: CORRAL_CONTROLLER, else the user's config file, else the all-in-one default."""

from __future__ import annotations

import os
from collections.abc import Mapping

# os.path rather than pathlib: pathlib costs every command ~10 ms at start.


def default_data_dir(environ: Mapping[str, str]) -> str:
    """Where `corral up` keeps its socket, agents and (in private/) its store when no
    --data-dir is given."""
    if environ.get("CORRAL_DATA_DIR"):
        return environ["CORRAL_DATA_DIR"]
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(base, "corral")


def config_file(environ: Mapping[str, str]) -> str:
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "corral", "config")


def _from_config(path: str) -> str | None:
    """Reads `controller = ADDRESS` from a small key = value file (TOML-compatible)."""
    try:
        with open(path) as handle:
            text = handle.read()
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
    return os.path.join(default_data_dir(env), "corral.sock")
