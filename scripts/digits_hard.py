"""The `digits-hard` table: every method of the preset on seeds 1, 2 and 3, with wall times.

    python scripts/digits_hard.py [--out runs/digits-hard] [--seeds 1 2 3]

Each seed is one `python -m podnet_lib run --preset digits-hard --seed S` (five methods), timed
end to end. Writes podnet_lib/book/digits_hard.json (the summary rows of each seed and its wall time) and
prints the Markdown table that chapter 05 and the README show.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from podnet_lib.report.compare import markdown_table  # noqa: E402
from podnet_lib.report.orders import seeds_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "digits-hard")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--json", type=Path, default=ROOT / "podnet_lib" / "book" / "digits_hard.json")
    args = parser.parse_args(argv)
    record: dict = {"preset": "digits-hard", "seeds": {}}
    for seed in args.seeds:
        out = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
        command = [sys.executable, "-m", "podnet_lib", "run", "--preset", "digits-hard", "--seed", str(seed),
                   "--no-plots", "--out", str(out)]
        began = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        wall = time.perf_counter() - began
        rows = json.loads((out / "summary.json").read_text())
        record["seeds"][str(seed)] = {"wall_seconds": round(wall, 1), "summary": rows,
                                      "command": " ".join(["python"] + command[1:-2])}
        print(f"seed {seed}: {wall:.1f} s", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    header, rows = seeds_table({int(s): r["summary"] for s, r in record["seeds"].items()})
    print(markdown_table(header, rows))
    print("wall time per seed (5 methods): "
          + ", ".join(f"seed {s} {r['wall_seconds']:.0f} s" for s, r in record["seeds"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
