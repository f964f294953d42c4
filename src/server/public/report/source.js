// Where the page reads a study from: the server's JSON API (`mergesearch serve`), or the data
// embedded in a saved page (`mergesearch report --out report.html`). Both answer the same calls
// with the API's JSON shapes, so the rest of the page does not know which it has.

/** The live API; `token` (from the page's ?token=) goes in every request. */
export function apiSource(token) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const enc = encodeURIComponent;
  async function call(path, init = {}) {
    const r = await fetch(path, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
    let body = null;
    try {
      body = await r.json();
    } catch {
      // not JSON: the status line says what happened
    }
    if (!r.ok) {
      const msg = body?.error?.message ?? body?.message ?? `${r.status} ${r.statusText}`;
      const hint = r.status === 401 ? ' (open the page with ?token=… as printed by mergesearch serve)' : '';
      throw new Error(`${msg}${hint}`);
    }
    return body;
  }
  const base = (name) => `api/studies/${enc(name)}`;
  return {
    live: true,
    studies: () => call('api/studies'),
    study: (name) => call(base(name)),
    trials: (name, after, limit) => call(`${base(name)}/trials?${after === null ? '' : `after=${after}&`}limit=${limit}`),
    pareto: (name, objectives) => call(`${base(name)}/pareto${objectives ? `?objectives=${objectives.map(enc).join(',')}` : ''}`),
    trial: (name, number) => call(`${base(name)}/trials/${number}`),
    recommendation: (name) => call(`${base(name)}/recommendation`),
    importance: (name) => call(`${base(name)}/importance`),
    compare: (name) => call(`${base(name)}/compare`),
    exportTrial: (name, number, out) =>
      call(`${base(name)}/trials/${number}/export`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ out }) }),
  };
}

/** Keys of embedded Pareto sets (src/server/report-file.ts): objective names in study order, comma-joined; `*` for all. */
export function paretoKey(objectives) {
  return objectives ? objectives.join(',') : '*';
}

/** The data `mergesearch report` embedded (its ReportData), answering as the API would. */
export function embeddedSource(data) {
  const of = (name) => {
    const s = data.byStudy[name];
    if (!s) throw new Error(`study ${name} is not in this report`);
    return s;
  };
  return {
    live: false,
    db: data.db,
    studies: async () => data.studies,
    study: async (name) => ({ study: of(name).study }),
    trials: async (name, after, limit) => {
      const rest = of(name).trials.filter((t) => after === null || t.number > after);
      const page = rest.slice(0, limit);
      return { trials: page, last: page.length ? page[page.length - 1].number : null, more: rest.length > limit };
    },
    pareto: async (name, objectives) => {
      const p = of(name).pareto[paretoKey(objectives)];
      if (!p) throw new Error(`this report has no Pareto set for ${paretoKey(objectives)}`);
      return p;
    },
    trial: async (name, number) => {
      const t = of(name).details[number];
      if (!t) throw new Error(`trial ${number} is not in this report`);
      return { trial: t };
    },
    recommendation: async (name) => of(name).recommendation,
    importance: async (name) => of(name).importance,
    compare: async (name) => of(name).compare,
    exportTrial: async () => {
      throw new Error('a saved report cannot export; use npx mergesearch export');
    },
  };
}
