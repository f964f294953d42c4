// Text from files (a safetensors header, tensor names) shown in messages: control characters,
// DEL, C1 controls and bidirectional overrides are written as \xNN / \uNNNN, so a crafted header
// cannot move the cursor, recolour or rewrite a terminal, or reorder what a reader sees.
// `keep` lists characters left alone (the CLI keeps the newlines of multi-line messages).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function printable(s: string, keep = ''): string {
  return s.replace(UNSAFE, (c) => {
    if (keep.includes(c)) return c;
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
