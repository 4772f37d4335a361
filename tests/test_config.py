"""config.toml: the documented minimal file works; every problem is reported at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from syndicator.config import config_from_dict, load_config, schema_markdown
from syndicator.errors import ConfigError

from conftest import ROOT

MINIMAL = '''
[site]
title = "CSTO News"
base_url = "https://feeds.example.org/"   # where feeds/ will be served
source_language = "en"
timezone = "Europe/Moscow"

[languages]
targets = ["ru", "hy", "be", "kk", "ky", "tg"]

[[sources]]
name = "csto"
type = "feed"                              # "feed" | "html" | "files"
url = "http://127.0.0.1:8000/news.rss"

[translation.argos]
packages_dir = "var/argos-packages"        # where argos packages are installed and read

[output]
dir = "feeds"

[store]
path = "var/syndicator.db"
'''


def test_minimal_config_from_the_issue_loads_with_paths_relative_to_the_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL)
    config = load_config(path)
    assert config.languages == ("en", "ru", "hy", "be", "kk", "ky", "tg")
    assert config.sources[0].type == "feed"
    assert config.store_path == tmp_path / "var" / "syndicator.db"
    assert config.argos.packages_dir == tmp_path / "var" / "argos-packages"
    assert config.output_dir == tmp_path / "feeds"


def test_bundled_config_loads_and_uses_the_offline_sample_site():
    config = load_config(ROOT / "config.toml")
    enabled = [s for s in config.sources if s.enabled]
    assert [s.name for s in enabled] == ["csto-sample"]
    assert enabled[0].url.startswith("file://")
    assert Path(enabled[0].url[len("file://"):]).is_file()
    live = [s for s in config.sources if not s.enabled]
    assert live and live[0].url.startswith("https://")


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    data = {
        "site": {"base_url": "not a url", "timezone": "Mars/Olympus", "colour": "red"},
        "languages": {"targets": ["ru", "xx-notalang"]},
        "sources": [{"name": "a", "type": "feed"}, {"name": "a", "type": "rss",
                                                     "max_pages": "3"}],
        "output": {"max_items": True},
        "surprise": {},
    }
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, tmp_path / "config.toml")
    problems = "\n".join(caught.value.problems)
    for expected in ("site.base_url:", "site.timezone:", "site.colour: unknown key",
                     "languages.targets[1]:", "sources[0].url: required for a feed source",
                     "sources[1].name: 'a' is used by another source", "sources[1].type:",
                     "sources[1].max_pages: expected integer", "output.max_items: expected integer",
                     "surprise: unknown key"):
        assert expected in problems, f"missing {expected!r} in:\n{problems}"
    assert len(caught.value.problems) == 10


def _problems(tmp_path, **tables) -> list[str]:
    data = {"site": {"base_url": "https://feeds.example.org/"}, **tables}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, tmp_path / "config.toml")
    return caught.value.problems


def _paths(problems: list[str]) -> list[str]:
    return [p.split(": ", 1)[0] for p in problems]


def test_every_bad_element_of_an_array_or_a_table_is_reported_at_its_own_path(tmp_path):
    problems = _problems(
        tmp_path, languages={"targets": ["ru", "xx", "yy"]},
        review={"policy": {"ru": "maybe", "zz": "machine", "default": "never"}},
        translation={"chain": ["nllb", "bogus", 7], "chains": {"be": ["bogus"], "kk": "nllb"}},
        sources=[{"name": "a", "type": "feed", "url": "https://a.example/feed",
                  "allowed_hosts": ["ok.example", "http://bad/", ""]}])
    assert sorted(_paths(problems)) == sorted([
        "languages.targets[1]", "languages.targets[2]",
        "review.policy.ru", "review.policy.zz", "review.policy.default",
        "translation.chain[1]", "translation.chain[2]",
        "translation.chains.be[0]", "translation.chains.kk",
        "sources[0].allowed_hosts[1]", "sources[0].allowed_hosts[2]"]), problems
    assert "review.policy.ru: 'maybe' is not 'machine'" in "\n".join(problems)


def test_a_language_listed_twice_an_empty_source_name_and_a_hub_that_is_no_url_are_refused(
        tmp_path):
    problems = _problems(
        tmp_path, languages={"targets": ["ru", "hy", "ru"]},
        websub={"hubs": ["https://hub.example/", "notaurl", "file:///hub"]},
        sources=[{"name": " ", "type": "feed", "url": "https://a.example/feed"}])
    assert sorted(problems) == sorted([
        "languages.targets[2]: 'ru' is listed twice",
        "websub.hubs[1]: 'notaurl' is not an http(s):// URL",
        "websub.hubs[2]: 'file:///hub' is not an http(s):// URL",
        "sources[0].name: empty; every item's identity starts with it"]), problems


def test_invalid_css_selectors_are_reported_with_their_key_path_among_the_other_problems(
        tmp_path):
    problems = _problems(
        tmp_path, languages={"targets": ["xx"]},
        sources=[{"name": "feed", "type": "feed", "url": "https://a.example/feed"},
                 {"name": "web", "type": "html", "url": "https://b.example/",
                  "selectors": {"item": "li[[", "title": "h1::text", "link": "",
                                "image": "", "next": ""}}])
    assert sorted(_paths(problems)) == ["languages.targets[0]", "sources[1].selectors.item",
                                        "sources[1].selectors.link",
                                        "sources[1].selectors.title"], problems
    assert "sources[1].selectors.item: 'li[[' is not a CSS selector" in "\n".join(problems)


def test_missing_config_file_names_the_path_and_the_option(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_config_reference_in_docs_matches_the_schema():
    """docs/CONFIG.md is regenerated with `syndicator config-docs > docs/CONFIG.md`."""
    assert (ROOT / "docs" / "CONFIG.md").read_text(encoding="utf-8") == schema_markdown()


def test_every_key_has_a_help_text():
    from syndicator.config import SCHEMA, ArrayOf, Key

    def walk(schema):
        for key, spec in schema.items():
            if isinstance(spec, dict):
                yield from walk(spec)
            elif isinstance(spec, ArrayOf):
                yield from walk(spec.schema)
            else:
                yield key, spec

    for key, spec in walk(SCHEMA):
        assert isinstance(spec, Key) and len(spec.help) > 10, key
