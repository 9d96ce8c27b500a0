"""``python -m benchmarks`` (``make bench``): print one table and write ``benchmarks/results.json``.

Examples:
  python -m benchmarks                                 # every preset present, 64 and 128 px (< 10 min, 2 cores)
  python -m benchmarks --presets improved ganimation --sizes 64
  python -m benchmarks --quick --out /tmp/bench.json   # tiny networks, a smoke test of every figure

See ``benchmarks/suite.py`` for what each figure measures and ``docs/performance.md`` for the results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.suite import run_suite

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", help="presets to time (default: all of baseline, ganimation, improved, "
                   "decomposed, cascade, sean, relative that exist)")
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 128], help="map sizes in px (default: 64 128)")
    p.add_argument("--batch", type=int, default=8, help="training batch size, equal for every preset (default: 8)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="tiny networks and one repeat: a smoke test, not figures")
    p.add_argument("--skip-other", action="store_true", help="skip the photo and editor benchmarks")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"results JSON (default: {DEFAULT_OUT})")
    args = p.parse_args(argv)
    results = run_suite(args.presets, args.sizes, args.batch, quick=args.quick, threads=args.threads,
                        other=not args.skip_other,
                        log=lambda line: print(line, flush=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
