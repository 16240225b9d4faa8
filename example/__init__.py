"""The Flask-Fanout example: a small comments app (see ``example/README.md``)."""
