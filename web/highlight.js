// Which words of a result match the query, and the part of its text worth showing: the same rule as
// the CLI's quarry_cli/highlight.py (a text word matches a query word it starts with, ignoring case and
// the commonest words), because the API returns whole chunks and no highlighter of its own.

const STOPWORDS = new Set(
  ("a an and are as at be by did do does for from had has have how in is it its of on or that the this to " +
    "was were what when where which who why will with").split(" "),
);

export function queryTerms(query) {
  const words = query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) || [];
  return [...new Set(words.filter((w) => w.length > 1 && !STOPWORDS.has(w)))];
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function matchPattern(terms) {
  if (!terms.length) return null;
  const alternatives = [...terms].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|");
  // \b is ASCII-only in JS: a lookbehind for "not a letter or digit" marks words of any script.
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives})[\\p{L}\\p{N}_]*`, "giu");
}

export function snippet(text, terms, width = 260) {
  const flat = text.split(/\s+/).filter(Boolean).join(" ");
  const pattern = matchPattern(terms);
  const first = pattern ? pattern.exec(flat) : null;
  let start = first ? Math.max(0, first.index - Math.floor(width / 4)) : 0;
  if (start && first) {
    const space = flat.indexOf(" ", start);
    if (space >= 0 && space < first.index) start = space + 1;
  }
  const end = Math.min(flat.length, start + width);
  return (start ? "…" : "") + flat.slice(start, end) + (end < flat.length ? "…" : "");
}

// The snippet as DOM nodes: text nodes with every match in a <mark> (never innerHTML: the text is the
// user's document, and may hold markup).
export function highlightedSnippet(text, query) {
  const terms = queryTerms(query);
  const shown = snippet(text, terms);
  const fragment = document.createDocumentFragment();
  const pattern = matchPattern(terms);
  let at = 0;
  for (const match of pattern ? shown.matchAll(pattern) : []) {
    fragment.append(shown.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    fragment.append(mark);
    at = match.index + match[0].length;
  }
  fragment.append(shown.slice(at));
  return fragment;
}
