// Independent checks of published feeds, called by tests/test_formats.py.
// Usage: node check-feeds.mjs FILE...   Prints one JSON line per file.
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { parseFeed, parseOpml } from "feedsmith";
import Parser from "rss-parser";
import schema from "jsonfeed-schema/schema-v1.1.json" with { type: "json" };

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validateJsonFeed = ajv.compile(schema);
const rssParser = new Parser();

for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  const result = { file };
  try {
    if (file.endsWith(".opml")) {
      const opml = parseOpml(text);
      result.format = "opml";
      result.outlines = opml.body.outlines.length;
    } else {
      const { format, feed } = parseFeed(file.endsWith(".json") ? JSON.parse(text) : text);
      result.format = format;
      const items = feed.items ?? feed.entries ?? [];
      result.items = items.length;
      result.titles = items.map((i) => i.title ?? (i.title && i.title.value));
      if (file.endsWith(".json")) {
        result.schemaValid = validateJsonFeed(JSON.parse(text));
        result.schemaErrors = validateJsonFeed.errors ?? [];
      } else {
        const parsed = await rssParser.parseString(text);
        result.rssParserItems = parsed.items.length;
      }
    }
  } catch (error) {
    result.error = String(error);
  }
  console.log(JSON.stringify(result));
}
