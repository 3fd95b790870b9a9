"""Exit 0 when this environment already has everything requirements.txt asks
for and imports cam_helpers from this project; otherwise list what is missing
and exit 1. Used by install.sh to start an installed course without the
network. Standard library and pip's own vendored packaging only."""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare venv: pip carries packaging
    from pip._vendor.packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def missing(requirements: Path) -> list[str]:
    out = []
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{req} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(f"{req} (installed: {version})")
    return out


def main() -> int:
    problems = missing(ROOT / "requirements.txt")
    try:
        import cam_helpers
        if Path(cam_helpers.__file__).resolve().parent.parent != ROOT:
            problems.append(f"cam_helpers (imports from {Path(cam_helpers.__file__).parent}, not {ROOT})")
    except ImportError:
        problems.append("cam_helpers (not installed)")
    for p in problems:
        print(f"  missing: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
