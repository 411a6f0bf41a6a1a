"""The command line: `lunglens COMMAND ...`, one argparse parser.

Each subcommand is a module of this package with an `add_parser(subparsers)` function that
adds its parser and sets `handler` (a function of the parsed arguments returning the exit
code). To add a subcommand, write its module and list it in COMMANDS.

Without a subcommand (`lunglens`, `lunglens PATH`, `lunglens --demo`) the viewer starts: the
arguments are the `view` subcommand's. Qt is imported only on the viewer's path.

Exit codes: 0 success, 2 bad input (a folder or file that cannot be used; the message says
which and why), 1 an internal failure or an interruption (Ctrl-C, SIGTERM, SIGHUP: each ends the
command the same way, so that what it leaves behind, e.g. a study retrieved into a temporary
folder, is removed)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from lunglens import __version__
from lunglens.cli import analyze, batch, demo_data, info, lesions, pacs, view
from lunglens.cli.common import EXIT_BAD_INPUT, EXIT_INTERNAL, BadInput
from lunglens.io.files import printable

#: The subcommands, in the order `lunglens --help` lists them.
COMMANDS = (view, info, analyze, lesions, batch, pacs, demo_data)

#: The options of `lunglens` itself (before any subcommand).
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lunglens", description="LungLens: chest CT COVID-19 reading aid.")
    parser.add_argument("--version", action="version", version=f"lunglens {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    parser.set_defaults(subcommands=tuple(subparsers.choices))
    return parser


def _tolerant_streams() -> None:
    """File names that are not UTF-8 reach Python as lone surrogates; print them as \\xNN
    escapes rather than fail on a strict UTF-8 terminal (or a pipe in the C locale)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


#: The signals that end a command as Ctrl-C does (KeyboardInterrupt).
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _termination_interrupts() -> Iterator[None]:
    """For the time of a command, SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread,
    so that `finally` blocks and atexit handlers run (their default kills the process at once).
    Only in the main thread, where Python handles signals; a signal the process was started
    ignoring (`nohup` ignores SIGHUP) stays ignored; the handlers before are restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, _interrupt)
        for signum in TERMINATION_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lunglens` with `argv` (without the program name; default sys.argv[1:])."""
    _tolerant_streams()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*parser.get_default("subcommands"), *TOP_LEVEL_OPTIONS):
        argv = [view.NAME, *argv]
    args = parser.parse_args(argv)
    try:
        if args.command == view.NAME:  # the viewer handles SIGTERM itself (lunglens.ui.app)
            return args.handler(args)
        with _termination_interrupts():
            return args.handler(args)
    except BadInput as exc:
        print(printable(f"lunglens: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lunglens: interrupted", file=sys.stderr)
        return EXIT_INTERNAL
