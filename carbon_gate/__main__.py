"""The `carbon-gate` script and `python -m carbon_gate`: signal handlers first, then the CLI, so a
signal at start-up is an interrupt (exit 130/143), not a traceback or click's `Aborted!`."""

import sys


def entry() -> None:
    from . import interrupts

    interrupts.install()
    try:
        with interrupts.deferred():  # an exception raised inside an import can come out wrapped (RuntimeError)
            from .cli import main
        main()
    except (KeyboardInterrupt, interrupts.Interrupted) as exc:  # while the CLI itself was being imported
        print("carbon-gate: interrupted", file=sys.stderr)
        sys.exit(interrupts.exit_code(getattr(exc, "signum", None)))
    finally:
        interrupts.close(exiting=True)  # a later signal must not kill the exiting interpreter (SIG_DFL)


if __name__ == "__main__":
    entry()
