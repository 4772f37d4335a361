"""Translators' corrections against everything that could overwrite them: blocks
moving in the source, merges before the import, drafts, stale copies of news.po."""
from __future__ import annotations

import subprocess
from datetime import timedelta

import polib

from syndicator.approvals import approvals_for, approve
from syndicator.catalog import catalog_path, export_catalogs
from syndicator.cycle import run_once
from syndicator.store import open_store

from conftest import FROZEN_NOW
from test_catalog import ATOM, _edit, _po, _titles, project  # noqa: F401 (a fixture)

ROCK = "news/2024-09-05-rock-2024.html"
TITLE = "CSTO Secretary General attends final stage of Rock-2024 training"
PLACE = ("The event took place at the basic training ground for the CSTO rescue units "
         "“Rock City-Astana”.")
TRAINING = "The training involved units of the bodies authorized"


def _rock_content(config, lang="ru") -> str:
    entry = next(e for e in _titles(config, lang).values()
                 if any("rock-2024" in link.get("href") for link in e.iter(f"{ATOM}link")))
    return entry.findtext(f"{ATOM}content")


def _insert_paragraph(site, text="Astana, 5 September."):
    page = site.root / ROCK
    page.write_text(page.read_text().replace('<div class="news-body">\n',
                                              f'<div class="news-body">\n<p>{text}</p>\n'))


def _entry(config, msgid_start: str, lang="ru"):
    return next(e for e in _po(config, lang) if e.msgid.startswith(msgid_start))


def _later(hours: int):
    return FROZEN_NOW + timedelta(hours=hours)


def _with_approval(project, msgid: str, text: str):
    """A project after two cycles, ``msgid`` approved as ``text`` in the ru news.po."""
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    _edit(config, "ru", {msgid: text})
    run_once(config, now=_later(1))
    return config


def _with_approved_title(project):
    return _with_approval(project, TITLE, "Генсек ОДКБ на учениях")


def test_an_approved_paragraph_keeps_its_text_when_a_paragraph_is_inserted_above(project):
    configure, site = project
    config = configure(stale={"ru": "approved"})  # the policy that shows old approvals
    run_once(config, now=FROZEN_NOW)
    _edit(config, "ru", {PLACE: "Мероприятие прошло на полигоне «Рок-Сити-Астана»."})
    run_once(config, now=_later(1))
    _insert_paragraph(site)
    run_once(config, now=_later(2))
    paragraphs = _paragraphs(_rock_content(config))
    # On its own paragraph, the last one, and on no other: not on the one that
    # took its old number (the policy would show an approval of an edited text).
    assert paragraphs[-1] == "Мероприятие прошло на полигоне «Рок-Сити-Астана»."
    assert not any("Мероприятие" in p for p in paragraphs[:-1])
    assert paragraphs[-2].startswith("The учения involved")  # machine text
    place = _entry(config, PLACE)
    assert place.msgstr == "Мероприятие прошло на полигоне «Рок-Сити-Астана»."
    assert not place.fuzzy and place.comment.startswith("reviewed by Анна")
    took_its_key = _entry(config, TRAINING)
    assert took_its_key.msgstr != place.msgstr or took_its_key.fuzzy


def _paragraphs(content: str) -> list[str]:
    """The body's paragraphs, without the date line, the label and the link back."""
    return [p.split(">", 1)[1] for p in content.split("</p>")
            if p.strip().startswith("<p>")]


def test_a_fuzzy_draft_of_an_approved_entry_survives_the_next_merges(project):
    config = _with_approved_title(project)
    po = _po(config, "ru")
    draft = next(e for e in po if e.msgid == TITLE)
    draft.msgstr, draft.flags = "ЧЕРНОВИК: Генсек ОДКБ на финале учений", ["fuzzy"]
    next(e for e in po if e.msgid == PLACE).msgstr = "Мероприятие прошло на полигоне."
    next(e for e in po if e.msgid == PLACE).flags = []
    po.save()
    run_once(config, now=_later(2))
    run_once(config, now=_later(3))
    kept = _entry(config, TITLE)
    assert kept.msgstr == "ЧЕРНОВИК: Генсек ОДКБ на финале учений" and kept.fuzzy
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")  # the approval is still shown
    assert "Мероприятие прошло на полигоне." in _rock_content(config)
    _edit(config, "ru", {TITLE: "Генсек ОДКБ на финале учений"})  # the draft finished
    run_once(config, now=_later(4))
    assert "Генсек ОДКБ на финале учений" in _titles(config, "ru")


def test_a_merge_before_the_import_keeps_a_revision_of_an_approved_entry(project):
    # A save landing while a cycle translates (after its import, before its merge),
    # or a web approval's merge, must not put the old approved text back.
    config = _with_approved_title(project)
    _edit(config, "ru", {TITLE: "Генсек ОДКБ на финале учений «Рубеж-2024»"})
    store = open_store(config.store_path)
    approve(store, "ru", _entry(config, PLACE).msgctxt, PLACE, "Мероприятие прошло.",
            "Борис", "web", _later(2))
    export_catalogs(store, config, _later(2))  # the merge the web approval makes
    assert _entry(config, TITLE).msgstr == "Генсек ОДКБ на финале учений «Рубеж-2024»"
    assert _entry(config, PLACE).msgstr == "Мероприятие прошло."
    run_once(config, now=_later(3))
    assert "Генсек ОДКБ на финале учений «Рубеж-2024»" in _titles(config, "ru")
    assert "Мероприятие прошло." in _rock_content(config)


def test_an_old_copy_of_news_po_saved_over_a_web_approval_does_not_revert_it(project):
    config = _with_approved_title(project)
    path = catalog_path(config, "ru")
    opened = _po(config, "ru")  # an editor opens the file ...
    store = open_store(config.store_path)
    approve(store, "ru", _entry(config, TITLE).msgctxt, TITLE, "Генсек ОДКБ на «Рубеже-2024»",
            "Борис", "web", _later(2))  # ... the title is approved again on the web ...
    export_catalogs(store, config, _later(2))
    for entry in opened:  # ... and the editor saves its old copy, one paragraph edited.
        if entry.msgid == PLACE:
            entry.msgstr, entry.flags = "Мероприятие прошло на полигоне.", []
    opened.save(str(path))
    run_once(config, now=_later(3))
    assert "Генсек ОДКБ на «Рубеже-2024»" in _titles(config, "ru")
    assert "Мероприятие прошло на полигоне." in _rock_content(config)
    assert _entry(config, TITLE).msgstr == "Генсек ОДКБ на «Рубеже-2024»"


def _remove_paragraph(site, text="Astana, 5 September."):
    page = site.root / ROCK
    page.write_text(page.read_text().replace(f"<p>{text}</p>\n", ""))


def _training(config) -> str:
    return _entry(config, TRAINING).msgid


def test_approving_the_paragraph_that_took_a_moved_paragraphs_key_keeps_both(project):
    config = _with_approval(project, PLACE, "Мероприятие прошло на полигоне «Рок-Сити-Астана».")
    place_key = _entry(config, PLACE).msgctxt
    _insert_paragraph(project[1])
    run_once(config, now=_later(2))
    assert _entry(config, TRAINING).msgctxt == place_key  # it took PLACE's old key
    # The translator now approves the paragraph under that key: PLACE's approval,
    # under the same key until its block moved, was deleted with it.
    _edit(config, "ru", {_training(config): "В учениях участвовали подразделения."})
    for hour in (3, 4, 5):
        run_once(config, now=_later(hour))
        paragraphs = _paragraphs(_rock_content(config))
        assert paragraphs[-1] == "Мероприятие прошло на полигоне «Рок-Сити-Астана»."
        assert paragraphs[-2] == "В учениях участвовали подразделения."
    place = _entry(config, PLACE)
    assert place.msgstr == "Мероприятие прошло на полигоне «Рок-Сити-Астана»."
    assert not place.fuzzy and place.comment.startswith("reviewed by Анна")


def test_after_blocks_move_back_the_newest_approval_of_a_text_wins(project):
    config = _with_approval(project, PLACE, "Первый вариант.")
    site = project[1]
    _insert_paragraph(site)
    run_once(config, now=_later(2))
    _edit(config, "ru", {PLACE: "Второй вариант."})  # revised under its new key
    run_once(config, now=_later(3))
    assert _paragraphs(_rock_content(config))[-1] == "Второй вариант."
    _remove_paragraph(site)  # back under its first key, where the older text was approved
    for hour in (4, 5):
        run_once(config, now=_later(hour))
        assert _paragraphs(_rock_content(config))[-1] == "Второй вариант."
        assert _entry(config, PLACE).msgstr == "Второй вариант."


def test_an_editor_saving_a_buffer_from_before_a_newer_approval_does_not_revert_it(project):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    path = catalog_path(config, "ru")
    _edit(config, "ru", {TITLE: "Генсек ОДКБ на учениях"})
    buffer = path.read_bytes()  # Anna's editor keeps the file as she saved it
    run_once(config, now=_later(1))  # her title is taken, and the file rewritten
    store = open_store(config.store_path)
    approve(store, "ru", _entry(config, TITLE).msgctxt, TITLE, "Генсек ОДКБ на «Рубеже-2024»",
            "Борис", "web", _later(2))  # Boris corrects it on the review page
    run_once(config, now=_later(2))
    path.write_bytes(buffer)  # Anna saves her buffer again, with another entry edited
    _edit(config, "ru", {PLACE: "Мероприятие прошло на полигоне."})
    for hour in (3, 4):
        run_once(config, now=_later(hour))
        assert "Генсек ОДКБ на «Рубеже-2024»" in _titles(config, "ru")
        assert "Мероприятие прошло на полигоне." in _rock_content(config)
    assert _entry(config, TITLE).msgstr == "Генсек ОДКБ на «Рубеже-2024»"
    # In a file written after Boris's approval, the same old text is a decision to
    # go back to it, and is taken.
    _edit(config, "ru", {TITLE: "Генсек ОДКБ на учениях"})
    run_once(config, now=_later(5))
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")


def test_a_source_edited_and_reverted_shows_its_approval_unflagged_again(project):
    config, site = _with_approved_title(project), project[1]
    page = site.root / ROCK
    original = page.read_text()
    page.write_text(original.replace("attends final stage", "visits final stage"))
    run_once(config, now=_later(2))
    assert _entry(config, "CSTO Secretary General visits").fuzzy
    page.write_text(original)
    run_once(config, now=_later(3))
    entry = _entry(config, TITLE)
    assert entry.msgstr == "Генсек ОДКБ на учениях"
    assert not entry.fuzzy and entry.previous_msgid is None
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")


def test_a_paragraph_that_is_all_one_link_shows_its_approved_text(project):
    # Its text is two segments (the paragraph, and the link inside it) with one
    # source text: the approved one must win over the other's machine text.
    configure, site = project
    config = configure()
    _insert_paragraph(site, '<a href="https://example.org/said">The Secretary General said</a>')
    run_once(config, now=FROZEN_NOW)
    po = _po(config, "ru")
    paragraph = next(e for e in po if e.msgid == "The Secretary General said"
                     and e.msgctxt.endswith("]") and "." not in e.msgctxt.rsplit("[", 1)[1])
    paragraph.msgstr, paragraph.flags = "Генеральный секретарь сообщил", []
    po.save()
    run_once(config, now=_later(1))
    assert "Генеральный секретарь сообщил" in _rock_content(config)


def test_a_text_an_item_has_twice_keeps_an_approval_in_each_place(project):
    configure, site = project
    config = configure()
    _insert_paragraph(site, "Photo: AP.")
    _insert_paragraph(site, "Photo: AP.")
    run_once(config, now=FROZEN_NOW)
    po = _po(config, "ru")
    first, second = [e for e in po if e.msgid == "Photo: AP."]
    first.msgstr, second.msgstr = "Фото: AP.", "Снимок: AP."
    first.flags = second.flags = []
    po.save()
    for hour in (1, 2):
        run_once(config, now=_later(hour))
        # Each place keeps its translator's text (the body is rendered by source
        # text, so the feed shows one of them in both places, as before).
        assert [e.msgstr for e in _po(config, "ru") if e.msgid == "Photo: AP."] == [
            "Фото: AP.", "Снимок: AP."]
        assert _paragraphs(_rock_content(config))[0] in ("Фото: AP.", "Снимок: AP.")
    assert sorted(a.text for a in approvals_for(open_store(config.store_path), "ru")) == [
        "Снимок: AP.", "Фото: AP."]


def test_a_news_po_with_a_syntax_error_waits_alone_and_the_cycle_goes_on(project):
    configure, site = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    path = catalog_path(config, "ru")
    broken = path.read_text(encoding="utf-8").replace(
        f'msgid "{TITLE}"\nmsgstr "', f'msgid "{TITLE}"\nmsgstr "broken "quote" ', 1)
    assert broken != path.read_text(encoding="utf-8")
    path.write_text(broken, encoding="utf-8")
    _insert_paragraph(site, "Astana, 5 September.")  # an edit for every language
    report = run_once(config, now=_later(1))
    line = broken[:broken.index('broken "quote"')].count("\n") + 1
    assert any(str(path) in e and f"line {line}" in e for e in report.errors), report.errors
    assert path.read_text(encoding="utf-8") == broken  # the translator's file, untouched
    for lang in ("en", "ru", "hy"):  # published, the edit too
        assert "Astana, 5 September." in _rock_content(config, lang)
    path.write_text(broken.replace('"broken "quote" ', '"Исправлено: ', 1), encoding="utf-8")
    _edit(config, "ru", {PLACE: "Мероприятие прошло на полигоне."})
    report = run_once(config, now=_later(2))
    assert not report.errors
    assert "Мероприятие прошло на полигоне." in _rock_content(config)
    assert any(e.msgid == "Astana, 5 September." for e in _po(config, "ru"))  # caught up


def test_an_entry_pasted_twice_is_kept_once_with_the_other_text_as_a_comment(project, caplog):
    configure, _ = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    po = _po(config, "ru")
    title = next(e for e in po if e.msgid == TITLE)
    copy = polib.POEntry(msgctxt=title.msgctxt, msgid=TITLE, msgstr="Генсек ОДКБ на учениях")
    po.append(copy)
    title.msgstr, title.flags = "Первый вариант", []
    po.save()
    run_once(config, now=_later(1))
    check = subprocess.run(["msgfmt", "--check", "-o", "/dev/null",
                            str(catalog_path(config, "ru"))], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")  # the later one, as imported
    entries = [e for e in _po(config, "ru") if e.msgctxt == title.msgctxt]
    assert [e.msgstr for e in entries] == ["Генсек ОДКБ на учениях"]
    assert "Первый вариант" in entries[0].tcomment  # the other text is not lost
    assert "is in it twice" in caplog.text


def test_a_block_approved_while_its_item_is_being_translated_is_published(
        project, monkeypatch):
    from syndicator import translate

    configure, site = project
    config = configure()
    run_once(config, now=FROZEN_NOW)
    store = open_store(config.store_path)
    _insert_paragraph(site)  # the item is translated again next cycle ...
    real_machine_texts = translate._machine_texts

    def a_reviewer_approves_meanwhile(*args, **kwargs):
        # ... and while the engine runs, a reviewer approves its title on the review page.
        assert args[5] == "ru"  # the language, the only one with an engine here
        found = store.translations_for("ru", [i.id for i in store.recent_items(None)])
        key = next(k for tr in found.values() for k, source, _ in tr.segments
                   if source == TITLE)
        approve(store, "ru", key, TITLE, "Генсек ОДКБ на учениях", "Анна", "web", _later(1))
        monkeypatch.setattr(translate, "_machine_texts", real_machine_texts)
        return real_machine_texts(*args, **kwargs)

    monkeypatch.setattr(translate, "_machine_texts", a_reviewer_approves_meanwhile)
    run_once(config, store=store, now=_later(1))
    assert translate._machine_texts is real_machine_texts  # the approval did happen
    run_once(config, store=store, now=_later(2))
    assert "Генсек ОДКБ на учениях" in _titles(config, "ru")
