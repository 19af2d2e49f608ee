"""The TA's command line: ``python -m grader COMMAND ...``.

    release WEEK|all [--no-verify]   regenerate notebooks/ from solutions/ (after a FAST run)
    collect DIR_OR_ZIP WEEK          import an LMS export into submitted/<student>/<week>/
    autograde WEEK [--workers N] [--scheduler ADDRESS] [--student ID ...]
    feedback WEEK                    feedback/<student>/<week>/index.html for every student
    export WEEK --csv PATH           one row per student: score, flags, repairs, time
    report WEEK [--png PATH]         score histogram and pass rate per exercise

Every command takes ``--root DIR``: the course directory (default: the current one).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from grader.pipeline import GraderError, generate, resolve_weeks, verify


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--root", type=pathlib.Path, default=pathlib.Path.cwd(),
                       help="course directory (default: the current directory)")
        return p

    p = command("release", "regenerate notebooks/<week>/ from solutions/<week>/")
    p.add_argument("week", help="a week folder name such as 01_autoencoders, or 'all'")
    p.add_argument("--no-verify", action="store_true",
                   help="skip running the solution in FAST mode first (authoring only)")
    p = command("collect", "import submissions from an LMS export (folder or zip)")
    p.add_argument("source", type=pathlib.Path)
    p.add_argument("week")
    p = command("autograde", "grade every submission of a week, sandboxed")
    p.add_argument("week")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel sandboxes (default: one per CPU core; 1 = serial, no Dask)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument("--student", action="append", default=None, help="grade only this student")
    p.add_argument("--cell-timeout", type=float, default=60.0)
    p.add_argument("--wall", type=float, default=300.0, help="seconds per submission")
    p.add_argument("--memory-mb", type=int, default=4096)
    p = command("feedback", "write one HTML feedback page per student")
    p.add_argument("week")
    p = command("export", "write the grades of a week as CSV")
    p.add_argument("week")
    p.add_argument("--csv", type=pathlib.Path, required=True)
    p = command("report", "plot the score histogram and pass rate per exercise")
    p.add_argument("week")
    p.add_argument("--png", type=pathlib.Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.root.resolve()
    try:
        if args.command == "release":
            from grader.pipeline import ROOT

            for week in resolve_weeks(args.week, root if (root / "solutions").is_dir() else ROOT):
                base = root if (root / "solutions" / week).is_dir() else ROOT
                if not args.no_verify:
                    print(f"{week}: solution ran clean in FAST mode in {verify(week, base):.0f} s")
                print(f"released {week}: {generate(week, base)}")
        elif args.command == "collect":
            from grader.collect import collect

            print(collect(args.source, args.week, root))
        elif args.command == "autograde":
            from grader.autograde import Limits, autograde

            limits = Limits(cell_timeout=args.cell_timeout, wall_s=args.wall,
                            memory_mb=args.memory_mb)
            autograde(args.week, root, workers=args.workers, scheduler=args.scheduler,
                      limits=limits, students=args.student)
        elif args.command == "feedback":
            from grader.feedback import write_feedback

            pages = write_feedback(root, args.week)
            print(f"wrote {len(pages)} feedback pages under {root / 'feedback'}")
        elif args.command == "export":
            from grader.export import export_csv

            rows = export_csv(root, args.week, args.csv)
            print(f"wrote {len(rows) - 1} students to {args.csv}")
        elif args.command == "report":
            from grader.export import report_png

            png = args.png or root / "reports" / f"{args.week}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            plotted = report_png(root, args.week, png)
            print(f"wrote {png}")
            for exercise, rate in plotted["pass_rates"].items():
                print(f"  {rate:6.0%}  {exercise}")
    except (GraderError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
