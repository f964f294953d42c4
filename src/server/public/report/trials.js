// Questions about trials as the JSON API returns them (plain data in, plain data out).

/** Whether objective `i` of trial `t` holds a finite number. */
export function hasValue(t, i) {
  return Array.isArray(t.values) && typeof t.values[i] === 'number' && Number.isFinite(t.values[i]);
}

/** How long the trial ran: the optimizer's own `seconds` attribute, else finished − started. */
export function seconds(t) {
  if (typeof t.attrs?.seconds === 'number') return t.attrs.seconds;
  return t.started != null && t.finished != null ? (t.finished - t.started) / 1000 : null;
}

/** Trials by number, ascending. */
export function byNumber(trials) {
  return [...trials].sort((a, b) => a.number - b.number);
}

/** COMPLETE trials with values, by number. */
export function completed(trials) {
  return byNumber(trials).filter((t) => t.state === 'COMPLETE' && Array.isArray(t.values));
}

/** How many trials are in each state. */
export function stateCounts(trials) {
  const out = {};
  for (const t of trials) out[t.state] = (out[t.state] ?? 0) + 1;
  return out;
}

/** The table's note for a trial: its error, or which trial it retried. */
export function trialNote(t) {
  return t.error ?? (t.retryOf !== null && t.retryOf !== undefined ? `retry of ${t.retryOf}` : '');
}

/** A study counts as running while it has a RUNNING or WAITING trial, or a trial finished in the last `windowMs`. */
export const LIVE_WINDOW_MS = 15_000;

/** Whether the "live" badge belongs on a study with these trials at time `now` (epoch ms). */
export function isLive(trials, now, windowMs = LIVE_WINDOW_MS) {
  return trials.some((t) => t.state === 'RUNNING' || t.state === 'WAITING' || (typeof t.finished === 'number' && now - t.finished < windowMs));
}
