"""``python -m flask_fanout.realm``: run a standalone local realm."""

from __future__ import annotations

import sys

from flask_fanout.realm._standalone import main

if __name__ == "__main__":
    sys.exit(main())
