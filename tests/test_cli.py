"""The command line, run as a user runs it: a subprocess of `python -m syndicator`."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import httpx

from syndicator.cycle import store_lock
from syndicator.testing.lexicon_model import build_lexicon_package

from conftest import ROOT, SAMPLE_SITE, SITE_TOML, html_source, run_cli

LANGS = ["en", "ru", "hy", "be", "kk", "ky", "tg"]


def _project_copy(tmp_path):
    """The bundled default: config.toml, the sample site and the UI catalogs."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    shutil.copytree(SAMPLE_SITE, tmp_path / "examples" / "csto-site")
    shutil.copytree(ROOT / "translations", tmp_path / "translations")
    return tmp_path


def _toml_config(tmp_path, site, **source_extra):
    source = html_source(site, **source_extra)
    selectors = "\n".join(f'{k} = "{v}"' for k, v in source.pop("selectors").items())
    (tmp_path / "config.toml").write_text(f'''
{SITE_TOML}[languages]
targets = ["ru", "hy"]
[[sources]]
name = "{source['name']}"
type = "html"
url = "{source['url']}"
[sources.selectors]
{selectors}
[translations]
dir = "{ROOT / 'translations'}"
''')


def test_once_on_the_bundled_default_publishes_every_language_then_changes_nothing(tmp_path):
    project = _project_copy(tmp_path)
    first = run_cli("once", cwd=project)
    assert "6 new" in first.stdout
    for lang in LANGS:
        for name in ("rss.xml", "atom.xml", "index.html"):
            assert (project / "feeds" / lang / name).is_file()
    second = run_cli("once", cwd=project)
    assert "0 new, 0 updated, 0 translation(s), 0 file(s) written, 0 error(s)" in second.stdout


def test_status_json_reports_sources_languages_and_last_run(tmp_path):
    project = _project_copy(tmp_path)
    run_cli("once", cwd=project)
    data = json.loads(run_cli("status", "--json", cwd=project).stdout)
    assert data["sources"][0] == {**data["sources"][0], "name": "csto-sample", "items": 6,
                                  "error": ""}
    assert data["languages"]["ru"]["awaiting"] == 6 and data["languages"]["ru"]["engine"] is None
    assert data["last_run"]["new"] == 6
    text = run_cli("status", cwd=project).stdout
    assert "csto-sample" in text and "awaiting" in text


def test_models_install_file_then_list_and_its_words_reach_the_russian_feed(
        tmp_path, site, lexicon_package):
    _toml_config(tmp_path, site)
    installed = run_cli("models", "install", str(lexicon_package), cwd=tmp_path)
    assert "installed en → ru" in installed.stdout
    listed = run_cli("models", "list", cwd=tmp_path).stdout
    assert "en → ru" in listed and "var/argos-packages" in listed
    run_cli("once", cwd=tmp_path)
    ru = (tmp_path / "feeds" / "ru" / "rss.xml").read_text()
    assert "ОДКБ Генеральный секретарь attends final stage of Rock-2024 учения" in ru
    hy = (tmp_path / "feeds" / "hy" / "rss.xml").read_text()
    assert "CSTO Secretary General attends final stage" in hy


def test_models_install_names_the_version_it_installed_beside_an_older_one(
        tmp_path, site, lexicon_package):
    _toml_config(tmp_path, site)
    newer = build_lexicon_package(tmp_path / "v1.1", {"CSTO": "ОДКБ"}, package_version="1.1")
    run_cli("models", "install", str(lexicon_package), cwd=tmp_path)
    installed = run_cli("models", "install", str(newer), cwd=tmp_path)
    assert "installed en → ru (version 1.1)" in installed.stdout, installed.stdout


def test_models_install_refuses_an_incomplete_package_and_installs_nothing(tmp_path, site):
    _toml_config(tmp_path, site)
    bad = tmp_path / "bad.argosmodel"
    import zipfile
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("translate-en_ru/metadata.json", '{"from_code": "en", "to_code": "ru"}')
    result = run_cli("models", "install", str(bad), cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "model/model.bin is missing" in result.stderr
    assert not any((tmp_path / "var" / "argos-packages").glob("*/metadata.json"))
    for missing in ("nowhere/en_ru.argosmodel", "./en_ru.zip"):  # a path, not a language
        result = run_cli("models", "install", missing, cwd=tmp_path, check=False)
        assert result.returncode == 1
        assert f"{missing}: no such file" in result.stderr, result.stderr


def _argos_env(tmp_path, index: str):
    return {**os.environ, "ARGOS_PACKAGE_INDEX": index, "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config")}


def test_models_install_code_offline_fails_fast_with_the_file_alternative(tmp_path, site):
    _toml_config(tmp_path, site)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "syndicator", "models", "install", "ru"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env=_argos_env(tmp_path, "http://127.0.0.1:9/"))
    assert result.returncode == 1
    assert "cannot read the Argos package index" in result.stderr
    assert "syndicator models install FILE.argosmodel" in result.stderr
    assert time.monotonic() - started < 30


def test_models_install_code_downloads_from_the_argos_index(tmp_path, site, lexicon_package):
    _toml_config(tmp_path, site)
    shutil.copy(lexicon_package, site.root / "en_ru.argosmodel")
    (site.root / "index.json").write_text(json.dumps([{
        "code": "translate-en_ru", "type": "translate", "from_code": "en", "to_code": "ru",
        "from_name": "English", "to_name": "Russian", "package_version": "1.0",
        "argos_version": "1.9.0", "links": [site.url + "en_ru.argosmodel"]}]))
    result = subprocess.run([sys.executable, "-m", "syndicator", "models", "install", "ru"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env=_argos_env(tmp_path, site.url))
    assert result.returncode == 0, result.stderr
    assert "installed en → ru" in result.stdout
    assert (tmp_path / "var" / "argos-packages").glob("*/model/model.bin")


def test_a_second_process_on_the_same_store_is_refused_with_the_reason(tmp_path):
    project = _project_copy(tmp_path)
    with store_lock(project / "var" / "syndicator.db"):
        result = run_cli("once", cwd=project, check=False)
    assert result.returncode == 3
    assert f"another syndicator process (pid {os.getpid()})" in result.stderr


def test_once_exits_4_when_a_source_cannot_be_read_and_publishes_the_rest(tmp_path, site):
    _toml_config(tmp_path, site)
    config = tmp_path / "config.toml"
    text = config.read_text()
    broken = text.replace('name = "csto"', 'name = "broken"').replace(
        f'url = "{site.url}', f'url = "{site.url}missing/')
    config.write_text(text + broken[broken.index("[[sources]]"):broken.index("[translations]")])
    result = run_cli("once", cwd=tmp_path, check=False)
    assert result.returncode == 4, result.stderr
    assert "6 new" in result.stdout and "1 error(s)" in result.stdout  # csto still read
    assert "source 'broken'" in result.stderr and "missing/" in result.stderr
    assert (tmp_path / "feeds" / "ru" / "atom.xml").is_file()


def test_once_exits_4_when_the_server_answers_503_partway_and_keeps_what_it_read(
        tmp_path, site):
    _toml_config(tmp_path, site)
    # The listing's fourth article: the three before it are read, then the source stops
    # and backs off, so a scheduler must hear of it although items were published.
    site.fault("/news/2024-09-04-unga-79-consultations.html", 503, b"busy",
               **{"Retry-After": "120"})
    result = run_cli("once", cwd=tmp_path, check=False)
    assert result.returncode == 4, result.stderr
    assert result.stdout.startswith("3 new"), result.stdout
    assert "source 'csto'" in result.stderr and "503" in result.stderr
    assert "Rock-2024" in (tmp_path / "feeds" / "en" / "atom.xml").read_text()


def test_serve_on_a_port_in_use_says_so_and_exits_1_not_3(tmp_path):
    # 3 means "another process holds the store"; uvicorn's own startup failure is 3.
    (tmp_path / "config.toml").write_text('[site]\nbase_url = "https://feeds.example.org/"\n')
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), cwd=tmp_path, check=False)
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "serving" not in result.stdout  # nothing claims to serve


def test_serve_on_port_0_prints_the_port_it_took_and_answers_there(tmp_path):
    (tmp_path / "config.toml").write_text('[site]\nbase_url = "https://feeds.example.org/"\n'
                                          '[serve]\nport = 99999\n')
    assert "serve.port: 99999 is not a TCP port" in run_cli(
        "serve", cwd=tmp_path, check=False).stderr
    (tmp_path / "config.toml").write_text('[site]\nbase_url = "https://feeds.example.org/"\n')
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "index.html").write_text("<!doctype html><title>x</title>")
    server = subprocess.Popen([sys.executable, "-m", "syndicator", "serve", "--port", "0"],
                              cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line)[1])
        assert port != 0 and port != 8080, line
        assert httpx.get(f"http://127.0.0.1:{port}/index.html", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_import_and_translate_exit_4_when_a_news_po_cannot_be_parsed(tmp_path):
    project = _project_copy(tmp_path)
    run_cli("once", cwd=project)
    po = project / "translations" / "ky" / "LC_MESSAGES" / "news.po"
    po.write_text(po.read_text().replace('msgstr ""', 'msgstr "a "quote""', 3))
    for command in (["translations", "import"], ["translate"]):
        result = run_cli(*command, cwd=project, check=False)
        assert result.returncode == 4, (command, result.stderr)
        assert "ky/LC_MESSAGES/news.po" in result.stderr, command
        assert "marked for refresh" not in result.stdout  # no --refresh was asked for


def test_a_bad_config_lists_every_problem_and_exits_2(tmp_path):
    (tmp_path / "config.toml").write_text('[site]\nbase_url = 3\ncolour = "red"\n')
    result = run_cli("once", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "site.base_url: expected string" in result.stderr
    assert "site.colour: unknown key" in result.stderr


def test_config_option_points_at_another_file(tmp_path):
    (tmp_path / "p").mkdir()
    project = _project_copy(tmp_path / "p")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    result = run_cli("--config", str(project / "config.toml"), "once", cwd=elsewhere)
    assert "6 new" in result.stdout
    assert (project / "feeds" / "ru" / "atom.xml").is_file()
