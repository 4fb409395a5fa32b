"""The `crychic` command: one entry point, one subcommand per task a user runs by hand.

    crychic predict VIDEO... [options]     (crychic.predict: video files in, predicted actions out)

The pipeline's own steps are DVC stages (`dvc repro`), not subcommands here.
"""

from __future__ import annotations

import sys

COMMANDS = {"predict": "crychic.predict"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: crychic {{{','.join(COMMANDS)}}} ...   (crychic predict --help)", file=sys.stderr)
        return 2
    from importlib import import_module

    return import_module(COMMANDS[argv[0]]).main(argv[1:])  # each command pins the CPU kernels as it loads


if __name__ == "__main__":
    sys.exit(main())
