// HTML text for the report page, escaped in one place. Every `innerHTML` the page sets is an `Html`
// value built by the `html` tag below, which escapes each interpolated value unless it is itself
// `Html` (a fragment built the same way). dom.js's setHtml refuses plain strings, so a value can
// reach the page unescaped only by being wrapped in Html on purpose.

// Quotes as numeric references: the same text also goes to Plotly titles, labels and hover
// templates, whose HTML subset decodes &amp; &lt; &gt; and numeric references but shows &quot;
// as typed.
const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

/** `s` as HTML text, safe in element content, in quoted attribute values and in Plotly text. */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Markup that is already safe: built by `html`, or a constant written in this code. */
export class Html {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

/** One interpolated value: Html as is, arrays joined, null/undefined/false as nothing, the rest escaped. */
function part(v) {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === null || v === undefined || v === false) return '';
  return esc(v);
}

/** Tagged template: html`<td>${name}</td>` escapes `name`; nested html`` fragments pass through. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Html(out);
}
