"""Seconds per section of each notebook, read from the committed run (the
execution timestamps nbclient saves in each code cell's metadata).

    python scripts/section_times.py            # a Markdown table (TEACHING.md's lesson plan uses it)
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _seconds(cell: dict) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except KeyError:
        return 0.0
    return (end - start).total_seconds()


def sections(path: Path) -> list[tuple[str, float]]:
    """[(section title, seconds)] in order; cells before the first "## " heading count as "setup"."""
    out = [["setup", 0.0]]
    for cell in json.loads(path.read_text())["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heads = [l[3:].strip() for l in text.splitlines() if l.startswith("## ")]
            for head in heads:
                out.append([head, 0.0])
        elif cell["cell_type"] == "code":
            out[-1][1] += _seconds(cell)
    return [(t, s) for t, s in out if s > 0 or t != "setup"]


def main() -> int:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rows = sections(path)
        total = sum(s for _, s in rows)
        print(f"\n**{path.stem}** ({total:.0f} s)\n\n| section | s |\n|---|---|")
        for title, s in rows:
            print(f"| {title} | {s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
