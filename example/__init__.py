"""The Flask-Fanout example: a small comments app (see ``example/README.md``).

``flask --app example run`` finds :func:`create_app` here.
"""

from example.app import create_app

__all__ = ["create_app"]
