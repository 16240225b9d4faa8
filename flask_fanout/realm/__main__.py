"""``python -m flask_fanout.realm``: run a standalone local realm."""

from __future__ import annotations

from flask_fanout.realm._cli import main

if __name__ == "__main__":
    main()
