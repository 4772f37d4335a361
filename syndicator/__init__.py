"""syndicator: pull news, translate it offline, publish per-language feeds."""
__version__ = "0.1.0"
