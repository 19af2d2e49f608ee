"""Command line: ``python -m grader release WEEK|all``."""

from __future__ import annotations

import argparse
import sys

from grader.pipeline import GraderError, generate, resolve_weeks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    release = sub.add_parser("release", help="regenerate notebooks/<week>/ from solutions/<week>/")
    release.add_argument("week", help="a week folder name such as 01_autoencoders, or 'all'")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for week in resolve_weeks(args.week):
                path = generate(week)
                print(f"released {week}: {path}")
    except GraderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
