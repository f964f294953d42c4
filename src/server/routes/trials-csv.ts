// GET /api/studies/:name/trials.csv: every trial as a CSV row (RFC 4180 quoting): number, state,
// one column per objective (by name; empty unless COMPLETE; NaN/Infinity/-Infinity spelled out),
// x[0] ... x[d-1], error.
import type { FastifyPluginAsync } from 'fastify';
import type { TrialRow } from '../../study/index.ts';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { ERRORS, STUDY_NAME_PARAMS } from '../schemas.ts';

export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function trialsCsv(objectives: string[], trials: TrialRow[]): string {
  const dim = trials.reduce((m, t) => Math.max(m, t.x.length), 0);
  const header = ['number', 'state', ...objectives, ...Array.from({ length: dim }, (_, i) => `x[${i}]`), 'error'];
  const lines = [header.map(csvField).join(',')];
  for (const t of trials) {
    const values = objectives.map((_, i) => (t.state === 'COMPLETE' && t.values ? String(t.values[i]) : ''));
    const xs = Array.from({ length: dim }, (_, i) => (t.x[i] === undefined ? '' : String(t.x[i])));
    lines.push([String(t.number), t.state, ...values, ...xs, t.error ?? ''].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

const trialsCsvRoute: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string } }>('/api/studies/:name/trials.csv', {
    schema: {
      params: STUDY_NAME_PARAMS,
      querystring: { type: 'object', properties: { token: { type: 'string' } } },
      response: { 200: { type: 'string', description: 'text/csv' }, ...ERRORS },
    },
    handler: async (req, reply) => {
      const s = studyNamed(ctx, req.params.name);
      const body = ctx.pages.get(`csv\0${s.name}`, ctx.store.changeStamp(), () => trialsCsv(s.objectives.map((o) => o.name), ctx.store.trials(s.id)));
      const file = `${s.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-trials.csv`;
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${file}"`).send(body);
    },
  });
};

export default trialsCsvRoute;
