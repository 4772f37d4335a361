"""HTML-preserving translation: markup, attributes, images and code survive, in order."""
from __future__ import annotations

from datetime import datetime, timezone

from syndicator.models import Item
from syndicator.translate.blocks import render_body, segments

NOW = datetime(2024, 9, 5, tzinfo=timezone.utc)


def _item(body: str) -> Item:
    return Item("s:1", "s", "1", "https://x.org/1", "Title", "", body, NOW, NOW, "h")


def _translate(body: str, table: dict[str, str]) -> tuple[list[str], str]:
    """Translate every segment with ``table`` (word → word), as a lexicon engine would."""
    segs = [s for s in segments(_item(body)) if s.field == "body"]

    def tr(text):
        return " ".join(table.get(w, w) for w in text.split(" "))

    return [s.text for s in segs], render_body(body, {s.text: tr(s.text) for s in segs})


def test_a_link_in_the_middle_of_a_sentence_keeps_its_place_and_href():
    texts, out = _translate('<p>The <a href="https://x.org/a" title="t">council</a> met.</p>',
                            {"council": "совет", "met.": "собрался."})
    assert texts == ["The council met.", "council"]
    assert out == '<p>The <a href="https://x.org/a" title="t">совет</a> собрался.</p>'


def test_nested_inline_tags_survive_in_order():
    body = '<p>See <a href="/u"><strong>big</strong> news</a> and <em>more</em>.</p>'
    texts, out = _translate(body, {"news": "новости"})
    assert "big news" in texts and "big" in texts
    assert out == ('<p>See <a href="/u"><strong>big</strong> новости</a> and <em>more</em>.</p>')


def test_entities_and_empty_paragraphs_round_trip():
    body = "<p>Tom &amp; Jerry &lt;3</p><p></p><p>  </p>"
    texts, out = _translate(body, {})
    assert texts == ["Tom & Jerry <3"]
    assert out == body


def test_images_code_and_pre_are_never_sent_to_the_engine():
    body = ('<p>Run <code>x = 1</code> now <img src="i.png" alt="chart"></p>'
            "<pre>keep me</pre><figure><img src=\"j.png\"><figcaption>Cap</figcaption></figure>")
    texts, out = _translate(body, {"now": "сейчас", "Cap": "Подпись"})
    assert texts == ["Run ⟦0⟧ now", "Cap"]
    assert out == ('<p>Run <code>x = 1</code> сейчас <img src="i.png" alt="chart"></p>'
                   '<pre>keep me</pre><figure><img src="j.png"><figcaption>Подпись</figcaption>'
                   "</figure>")


def test_line_breaks_split_a_block_into_parts():
    texts, out = _translate("<p>One line<br>Two line</p>", {"line": "строка"})
    assert texts == ["One line", "Two line"]
    assert out == "<p>One строка<br>Two строка</p>"


def test_an_inline_element_the_engine_reworded_is_kept_after_the_text():
    body = '<p>The <a href="/a">council</a> met.</p>'
    segs = [s.text for s in segments(_item(body)) if s.field == "body"]
    out = render_body(body, {segs[0]: "Совет собрался.", segs[1]: "совета"})
    assert out == '<p>Совет собрался. <a href="/a">совета</a></p>'


def test_numbers_and_dates_in_text_survive_a_copying_engine():
    body = "<p>On 05.09.2024 at 10:30, 1,500 troops (12%) arrived.</p>"
    assert _translate(body, {})[1] == body


def test_a_5000_word_article_keeps_every_block():
    paragraphs = [f"<p>Paragraph {n} has <em>words</em> " + "text " * 48 + "end.</p>"
                  for n in range(100)]
    body = "".join(paragraphs)
    texts, out = _translate(body, {"words": "слова"})
    assert len(body.split()) > 5000
    assert out.count("<p>") == 100 and out.count("<em>слова</em>") == 100
    assert "Paragraph 99 has" in out
