"""`python -m cxone_cdp` runs the command line (see `cxone_cdp.cli`)."""

from cxone_cdp.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
