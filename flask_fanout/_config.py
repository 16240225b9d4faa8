"""Compatibility for the realm modules until they import ``_settings``."""

from ._settings import FanoutConfig

__all__ = ["FanoutConfig"]
