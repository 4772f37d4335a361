"""``syndicator serve``: the published feeds over HTTP (starlette app, run by uvicorn)."""
from .app import make_app, serve
from .config import ServeConfig

__all__ = ["ServeConfig", "make_app", "serve"]
