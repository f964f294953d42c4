// POST /api/studies/:name/trials/:number/export {out, overwrite?}: write the trial's merge as a
// checkpoint folder (exportTrial: mergekit recipe, streaming merge, model card) at `out`, which
// must lie under the output root (relative paths resolve against it). 409 when `out` exists and is
// not empty and overwrite is not true, or when another export into it is running.
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { MergeSearchError } from '../../errors.ts';
import { exportTrial } from '../../search/export.ts';
import { HttpError } from '../auth.ts';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { confinePath } from '../paths.ts';
import { ERRORS, TRIAL_PARAMS } from '../schemas.ts';

function contains(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const exportRoute: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  const running = new Set<string>();
  app.post<{ Params: { name: string; number: number }; Body: { out: string; overwrite?: boolean } }>('/api/studies/:name/trials/:number/export', {
    schema: {
      params: TRIAL_PARAMS,
      body: {
        type: 'object',
        required: ['out'],
        additionalProperties: false,
        properties: { out: { type: 'string', minLength: 1, maxLength: 4096 }, overwrite: { type: 'boolean', default: false } },
      },
      response: {
        200: {
          type: 'object',
          required: ['out', 'files', 'seconds', 'recipe'],
          properties: { out: { type: 'string' }, files: { type: 'array', items: { type: 'string' } }, seconds: { type: 'number' }, recipe: { type: 'string' } },
        },
        ...ERRORS,
      },
    },
    handler: async (req) => {
      const { name, number } = req.params;
      const s = studyNamed(ctx, name);
      const t = ctx.store.trial(s.id, number);
      if (t.state !== 'COMPLETE') {
        throw new HttpError('SERVER_E_REQUEST', 409, `trial ${number} of study "${name}" is ${t.state}${t.error ? ` (${t.error})` : ''}; only COMPLETE trials can be exported`);
      }
      const out = confinePath(ctx.outputRoot, req.body.out, 'out');
      const db = realOrSelf(ctx.db);
      if (contains(out, db)) throw new HttpError('SERVER_E_PATH', 400, `out "${req.body.out}" holds the study database ${ctx.db}; an export there could replace it. Give a folder of its own`);
      if (contains(out, path.join(realOrSelf(ctx.outputRoot), 'launches'))) throw new HttpError('SERVER_E_PATH', 400, `out "${req.body.out}" holds the launch configs folder; give a folder of its own`);
      const overwrite = req.body.overwrite === true;
      if (!overwrite && fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0)) {
        throw new MergeSearchError('IO_E_OUTPUT_EXISTS', `${out} exists and is not an empty folder; choose another out, or send "overwrite": true to replace it`);
      }
      if (running.has(out)) throw new HttpError('SERVER_E_REQUEST', 409, `an export into ${out} is running already; wait for it or choose another out`);
      running.add(out);
      try {
        const r = await exportTrial({ db: ctx.db, study: name, trial: number, out, overwrite, log: (line) => req.log.info(line) });
        return { out: r.out, files: r.files, seconds: r.seconds, recipe: r.recipe };
      } finally {
        running.delete(out);
      }
    },
  });
};

export default exportRoute;
