"""Stage configuration for local runs: .chalice/config.json's environment, with the process
environment taking precedence (Chalice's own loader lets config win, which would make overrides
such as QUARRY_EMBEDDER=titan impossible on a laptop)."""

from __future__ import annotations

import json
import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# moto accepts any credentials; real ones must never be needed (or used) by the local stack.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The MiniLM weights are installed with the code: a local run never needs the model hub, whatever its
# stage, and a library that thinks it may reach the hub would try (and hang or fail) without network.
OFFLINE_MODEL_HUB = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def stage_environment(stage: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise SystemExit(f"unknown stage {stage!r}; .chalice/config.json defines {sorted(config['stages'])}")
    env = dict(config.get("environment_variables", {}))
    env.update(config["stages"][stage].get("environment_variables", {}))
    return env


def apply_stage(stage: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """Set the stage's variables (and the model hub's offline switches) in os.environ where the
    process has not set them; returns the result.

    Placeholder credentials only when the user has none: with real ones (say AWS_PROFILE for the
    hybrid mode, real Bedrock beside moto) moto accepts them as well.
    """
    has_credentials = any(os.environ.get(n) for n in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"))
    defaults = {
        **({} if has_credentials else LOCAL_CREDENTIALS),
        **OFFLINE_MODEL_HUB,
        **stage_environment(stage, project_dir),
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    from chalicelib import bootstrap
    from chalicelib.config import settings

    settings.cache_clear()
    bootstrap.reset()
    return dict(os.environ)


def load_app(stage: str, project_dir: Path = PROJECT_DIR):
    """The Chalice app and config exactly as `chalice local --stage` builds them."""
    from chalice.cli.factory import CLIFactory

    apply_stage(stage, project_dir)
    # A throwaway environ: the loader writes the config's variables into it instead of over ours.
    factory = CLIFactory(str(project_dir), environ={})
    config = factory.create_config_obj(chalice_stage_name=stage)
    return factory, config, config.chalice_app
