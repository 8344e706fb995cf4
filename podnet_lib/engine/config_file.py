"""A Config as a file: the JSON a run writes as `config.json`, or YAML when PyYAML is installed.

`run --config FILE` starts from such a file instead of a preset; flags and `--set` go on top.
A saved run's `config.json` holds every field, so running it again reproduces the run. Every
problem with the file (missing, unreadable, not a mapping, unknown fields, a value of the wrong
type) is one ConfigError naming the file and what is allowed; the values themselves are checked
with the rest of the config by `validation.validate`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podnet_lib.config import Config, ConfigError
from podnet_lib.engine.validation import check_types

YAML_SUFFIXES = (".yaml", ".yml")
ALLOWED = "a JSON file of config fields (a run's config.json) or a YAML one (.yaml, .yml)"


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError(f"config file {path} is YAML, which needs PyYAML: pip install pyyaml "
                          "(or give the JSON config.json of a run)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{line}; allowed: {ALLOWED}") from None


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"config file {path} is not valid JSON ({err.msg} at line {err.lineno}); "
                          f"allowed: {ALLOWED}") from None


def read_config_file(path: Path | str) -> Config:
    """The Config stored in `path` (JSON, or YAML by its suffix); fields it leaves out keep
    Config's defaults. A problem with the file (or a value of the wrong type) -> ConfigError naming it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; allowed: {ALLOWED}")
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a file; allowed: {ALLOWED}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read as text ({type(err).__name__}); "
                          f"allowed: {ALLOWED}") from None
    data = _parse_yaml(path, text) if path.suffix.lower() in YAML_SUFFIXES else _parse_json(path, text)
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} holds a {type(data).__name__}, not a mapping of config fields; "
                          f"allowed: {ALLOWED}")
    if {"method", "tasks", "config"} <= set(data):
        raise ConfigError(f"config file {path} is a results file, not a config; "
                          "allowed: the config.json of its run directory")
    try:
        cfg = Config.from_dict(data)
        check_types(cfg)
        return cfg
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from None
