"""The command line: a thin shell over the library. Only here do errors become exit codes."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__
from .config import Config, load_config, schema_markdown
from .errors import ConfigError, LockedError, ModelError, SyndicatorError

log = logging.getLogger("syndicator")


class _Context:
    def __init__(self, config_path: str):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


@click.group()
@click.option("--config", "config_path", default="config.toml", show_default=True,
              type=click.Path(dir_okay=False), help="Configuration file.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="syndicator")
@click.pass_context
def main(ctx: click.Context, config_path: str, verbose: int) -> None:
    """Pull news, translate it offline, publish per-language feeds."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    ctx.obj = _Context(config_path)


def _fail(exc: SyndicatorError):
    """Exit codes: 2 for a bad configuration, 3 when another process holds the store, 1 else
    (and 4 from ``once``: the cycle ran, but a source or a news.po could not be read)."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(2 if isinstance(exc, ConfigError) else 3 if isinstance(exc, LockedError) else 1)


@main.command()
@click.pass_obj
def once(obj: _Context) -> None:
    """Run one cycle now: fetch, store, translate, publish."""
    from .cycle import run_once, store_lock
    from .progress import progress_display

    try:
        config = obj.config
        with store_lock(config.store_path), progress_display() as progress:
            report = run_once(config, progress=progress)
    except SyndicatorError as exc:
        _fail(exc)
    translated = sum(report.translated.values())
    click.echo(f"{report.new} new, {report.updated} updated, {translated} translation(s), "
               f"{len(report.written)} file(s) written, {len(report.errors)} error(s)")
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if report.failed:
        # The cycle ran, and published what it could; a scheduler (cron, a systemd
        # timer) should still hear that a source or a catalog could not be read.
        sys.exit(4)


@main.command()
@click.pass_obj
def run(obj: _Context) -> None:
    """Run cycles on the schedule until SIGTERM or Ctrl-C."""
    from .schedule import run_forever

    try:
        run_forever(obj.config)
    except SyndicatorError as exc:
        _fail(exc)


@main.command()
@click.option("--refresh", is_flag=True,
              help="Re-translate already translated items (after a model or glossary change).")
@click.option("--lang", default=None, help="Only this target language.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only items published on or after this date (YYYY-MM-DD).")
@click.pass_obj
def translate(obj: _Context, refresh: bool, lang: str | None, since) -> None:
    """Translate pending items and publish, without fetching.

    With --refresh, translations are redone; the translation memory still
    answers every segment whose model and glossary entries did not change.
    """
    from datetime import datetime, timezone

    from .cycle import retranslate, store_lock

    try:
        config = obj.config
        if lang and lang not in config.targets:
            raise ConfigError(str(config.path), [f"--lang {lang}: not in languages.targets"])
        with store_lock(config.store_path):
            _, marked, counts = retranslate(
                config, datetime.now(timezone.utc), refresh=refresh, lang=lang,
                since=since.replace(tzinfo=timezone.utc) if since else None)
    except SyndicatorError as exc:
        _fail(exc)
    marked = f"{marked} translation(s) marked for refresh; " if refresh else ""
    click.echo(f"{marked}translated: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    _exit_if_catalogs_unread(config)


def _exit_if_catalogs_unread(config) -> None:
    """Exit 4, as ``once`` does, when a news.po could not be parsed (and so was not
    imported): a script running the import after a save must hear of it."""
    from .catalog import catalog_problems
    from .store import open_store

    problems = catalog_problems(open_store(config.store_path), config)
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    if problems:
        sys.exit(4)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: _Context, as_json: bool) -> None:
    """Items per source, translation state per language, last run and errors."""
    from .status import collect_status, render_status

    try:
        data = collect_status(obj.config)
    except SyndicatorError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(render_status(data))


@main.group()
def models() -> None:
    """Translation models (argos packages)."""


@models.command("list")
@click.pass_obj
def models_list(obj: _Context) -> None:
    """Show the installed argos packages."""
    from .translate.argos import installed_packages

    try:
        found = installed_packages(obj.config.argos.packages_dir)
    except SyndicatorError as exc:
        _fail(exc)
    if not found:
        click.echo(f"no argos packages in {obj.config.argos.packages_dir}")
    for package in found:
        click.echo(f"{package.from_code} → {package.to_code}  version {package.version}  "
                   f"{package.path}")


@models.command("install")
@click.argument("spec")
@click.pass_obj
def models_install(obj: _Context, spec: str) -> None:
    """Install SPEC: a language code (from the Argos index) or a FILE.argosmodel."""
    from .translate import packages

    try:
        config = obj.config
        if spec.endswith((".argosmodel", ".zip")) or os.sep in spec or Path(spec).is_file():
            if not Path(spec).is_file():
                raise ModelError(f"{spec}: no such file (give a downloaded .argosmodel, "
                                 "or a language code to install from the Argos index)")
            done = [packages.install_file(Path(spec), config.argos.packages_dir)]
        else:
            done = packages.install_code(spec, config.source_language,
                                         config.argos.packages_dir)
    except SyndicatorError as exc:
        _fail(exc)
    for package in done:
        click.echo(f"installed {package.from_code} → {package.to_code} "
                   f"(version {package.version}) in {package.path}")


@main.command()
@click.option("--host", default=None, help="Address to bind (default: serve.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: serve.port; 0: any free port, printed).")
@click.pass_obj
def serve(obj: _Context, host: str | None, port: int | None) -> None:
    """Serve the feeds (and the translators' review page) over HTTP."""
    from .web import ServeConfig, serve as run_server
    from .web.app import listen
    from .web.review import review_routes

    try:
        config = obj.config
        settings = config.serve
        serve_config = ServeConfig(
            root=config.output_dir, max_age=settings["max_age"],
            cors_origins=tuple(settings["cors_origins"]),
            frame_ancestors=tuple(settings["frame_ancestors"]))
        host = host or settings["host"]
        sock = listen(host, settings["port"] if port is None else port)
        port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"serving {config.output_dir} on http://{shown}:{port}/ "
                   "(review page: /review/)")
        run_server(serve_config, host=host, port=port, extra_routes=review_routes(config),
                   sock=sock)
    except SyndicatorError as exc:
        _fail(exc)


@main.group()
def translations() -> None:
    """The translators' catalogs (translations/<lang>/LC_MESSAGES/news.po)."""


@translations.command("import")
@click.pass_obj
def translations_import(obj: _Context) -> None:
    """Apply translators' corrections from news.po now: approve, re-assemble, publish."""
    from datetime import datetime, timezone

    from .cycle import retranslate, store_lock

    try:
        config = obj.config
        with store_lock(config.store_path):
            counts, _, _ = retranslate(config, datetime.now(timezone.utc))
    except SyndicatorError as exc:
        _fail(exc)
    click.echo("approved: " + ", ".join(f"{lang} {n}" for lang, n in counts.items()))
    _exit_if_catalogs_unread(config)


@main.group()
def translators() -> None:
    """Accounts of the translators' review page (syndicator serve, /review/)."""


@translators.command("add")
@click.argument("name")
@click.option("--lang", "langs", required=True,
              help="Languages this translator may review, comma-separated (e.g. ru,ky).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input instead of "
                   "asking twice.")
@click.pass_obj
def translators_add(obj: _Context, name: str, langs: str, password_stdin: bool) -> None:
    """Create translator NAME, or reset its password and languages (ending its sessions)."""
    from datetime import datetime, timezone

    from .store import open_store
    from .web.accounts import add_translator

    try:
        config = obj.config
        languages = sorted({code.strip() for code in langs.split(",") if code.strip()})
        reviewable = [t for t in config.targets if t != config.source_language]
        wrong = [code for code in languages if code not in reviewable]
        if wrong or not languages:
            raise ConfigError(str(config.path), [
                f"--lang {','.join(wrong) or repr(langs)}: not among the target languages "
                f"({', '.join(reviewable)})"])
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        created = add_translator(open_store(config.store_path), name, password, languages,
                                 datetime.now(timezone.utc))
    except SyndicatorError as exc:
        _fail(exc)
    click.echo(f"{'added' if created else 'updated'} translator {name} "
               f"({', '.join(languages)})")


@translators.command("list")
@click.pass_obj
def translators_list(obj: _Context) -> None:
    """Show the translator accounts and their languages."""
    from .store import open_store
    from .web.accounts import list_translators

    try:
        found = list_translators(open_store(obj.config.store_path))
    except SyndicatorError as exc:
        _fail(exc)
    if not found:
        click.echo("no translators; add one with: syndicator translators add NAME --lang ru")
    for translator in found:
        click.echo(f"{translator.name}  {', '.join(translator.languages)}  "
                   f"since {translator.created:%Y-%m-%d}")


@main.command("config-docs")
def config_docs() -> None:
    """Print the configuration reference (docs/CONFIG.md) generated from the schema."""
    click.echo(schema_markdown(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
