"""Files of the source checkout that the development tools read."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO_ROOT / "config" / "routeyard.example.yaml"
