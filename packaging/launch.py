"""Entry script of the desktop bundle: the same start-up as the `mnstudio-gui` launcher."""

import sys

from studio.app import main

if __name__ == "__main__":
    sys.exit(main())
