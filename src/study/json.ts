// JSON columns must hold NaN and ±Infinity (a diverged trial's values, an optimizer's best-so-far
// of -Infinity), which JSON cannot. They are written as the strings "NaN", "Infinity" and
// "-Infinity"; a real string of that spelling gets a "~" prefix (one more per existing "~") so the
// encoding stays unambiguous and the column readable with plain JSON tools. (-0 reads back as 0,
// here as in REAL columns.)

const SPECIAL = /^~*(?:NaN|-?Infinity)$/;
const MAY_NEED_REVIVER = /NaN|Infinity/;

/** Serialise a value for a JSON column; `undefined` becomes `null`. */
export function encodeJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
      if (typeof v === 'string' && SPECIAL.test(v)) return `~${v}`;
      return v;
    }) ?? 'null'
  );
}

function revive(_key: string, v: unknown): unknown {
  if (typeof v !== 'string' || !SPECIAL.test(v)) return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v.slice(1);
}

/** Parse a JSON column written by `encodeJson`; SQL NULL reads as `null`. */
export function decodeJson(text: string | null): unknown {
  if (text === null) return null;
  // Most rows hold no special values; skipping the reviver keeps bulk reads of 10,000 trials fast.
  return MAY_NEED_REVIVER.test(text) ? JSON.parse(text, revive) : JSON.parse(text);
}

/** REAL columns store NaN as NULL (SQLite has no NaN); ±Infinity survive as they are. */
export function realOut(v: number | null): number {
  return v === null ? NaN : v;
}
