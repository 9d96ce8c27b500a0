"""The ``aucgan`` command: one entry point, one module per subcommand in this package.

A subcommand module ``aucgan.cli.<name>`` (``train_au`` -> ``train-au``) defines ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; it is found automatically. Heavy imports go
inside ``run`` so ``aucgan --help`` stays fast. User errors (:class:`AucganError`) print one line
and exit 2, never a traceback; set ``AUCGAN_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from aucgan import __version__
from aucgan.errors import AucganError


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aucgan", description="Facial detail that follows facial expression.")
    parser.add_argument("--version", action="version", version=f"aucgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _command_modules():
        mod = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(name.replace("_", "-"), help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except AucganError as exc:
        print(f"aucgan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush at exit
        return 0
    except KeyboardInterrupt:
        print(f"aucgan {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a bare traceback unless asked
        if os.environ.get("AUCGAN_DEBUG"):
            raise
        print(f"aucgan {args.command}: unexpected error: {type(exc).__name__}: {exc} "
              "(set AUCGAN_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
