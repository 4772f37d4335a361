// syndicator embed (ES2017, no dependencies). On a partner page:
//   <script src="https://feeds.example.org/embed.js" defer></script>
//   <div data-syndicator-lang="ru" data-limit="5"></div>
// Each such div gets the latest items of <lang>/feed.json, fetched from beside
// this script. Feed text is untrusted: it is only ever assigned as textContent
// or to checked attributes, never parsed as HTML. Any failure (network, CORS
// refusal, bad JSON) leaves the div as the partner wrote it and is swallowed:
// a news box must never break the page around it.
(function () {
  "use strict";
  // currentScript exists only while this file first runs: resolve the base now.
  const script = document.currentScript;
  const base = new URL(".", script && script.src ? script.src : location.href);
  const STATE = "data-syndicator-state"; // loading | ok | error, for partners' CSS
  // Folder names as configured (Babel: "ru", "pt_BR"); also keeps the fetch
  // inside base, since no "/" or "." can get through.
  const LANG = /^[a-z]{2,3}([_-][a-z0-9]{2,8})*$/i;
  // CLDR's right-to-left languages and scripts, as Babel's text_direction has them.
  const RTL = new RegExp("^(apc|ar|ary|bal|bgn|bqi|brh|ckb|dv|fa|he|ks|lrc|mzn|nqo|ps|" +
    "rhg|sd|sdh|skr|syr|trw|ug|ur|yi)(-|$)|-(adlm|arab|hebr|nkoo|rohg|syrc|thaa)(-|$)", "i");

  function start() {
    for (const box of document.querySelectorAll("[data-syndicator-lang]")) load(box);
  }

  async function load(box) {
    if (box.hasAttribute(STATE)) return; // the script was included twice
    box.setAttribute(STATE, "loading");
    try {
      const lang = box.getAttribute("data-syndicator-lang");
      if (!LANG.test(lang)) throw new Error("bad data-syndicator-lang");
      const url = new URL(lang + "/feed.json", base);
      // No cookies: the feed is public, and credentials would need stricter CORS.
      const response = await fetch(url.href, { credentials: "omit" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const list = render(await response.json(), lang, box, url);
      box.textContent = "";
      box.appendChild(list);
      box.setAttribute(STATE, "ok");
    } catch (error) {
      box.setAttribute(STATE, "error");
    }
  }

  function render(feed, lang, box, feedUrl) {
    const tag = lang.replace(/_/g, "-");
    const limit = Math.max(1, Math.min(parseInt(box.getAttribute("data-limit"), 10) || 5, 50));
    // The feed language decides the date's language, whatever the page says.
    // Built before the list, so a bad data-time-zone fails before anything shows.
    const format = new Intl.DateTimeFormat(tag, {
      year: "numeric", month: "long", day: "numeric",
      timeZone: box.getAttribute("data-time-zone") || undefined,
    });
    const list = document.createElement("ol");
    list.className = "syndicator-list";
    list.lang = tag;
    list.dir = RTL.test(tag) ? "rtl" : "ltr";
    list.style.overflowWrap = "anywhere"; // long words must not widen a narrow column
    const items = Array.isArray(feed.items) ? feed.items : [];
    for (const item of items.slice(0, limit)) list.appendChild(entry(item, format, feedUrl));
    return list;
  }

  function entry(item, format, feedUrl) {
    const li = document.createElement("li");
    // Items awaiting translation are in the source language: say so for
    // screen readers and hyphenation.
    if (typeof item.language === "string") li.lang = item.language;
    const date = new Date(item.date_published);
    if (!isNaN(date)) {
      const time = document.createElement("time");
      time.dateTime = date.toISOString();
      time.textContent = format.format(date);
      li.append(time, " ");
    }
    const link = document.createElement("a");
    link.textContent = String(item.title || "");
    link.dir = "auto"; // a title in another script must not reorder the list
    const href = webUrl(item.url, feedUrl);
    if (href) {
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener";
    }
    li.appendChild(link);
    return li;
  }

  // Only http(s) links: javascript:, data: and the like would run in the page.
  function webUrl(value, feedUrl) {
    if (typeof value !== "string" || !value) return "";
    try {
      const url = new URL(value, feedUrl);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : "";
    } catch (error) {
      return "";
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
