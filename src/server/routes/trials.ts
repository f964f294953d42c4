// GET /api/studies/:name/trials?after=N&limit=M&state=COMPLETE[,FAIL...]: trials in number order,
// without their decoded parameters (see trial.ts). `after` is a cursor: poll with the `last` of the
// previous answer to get only newer trials; `more` says a full page came back and more follow.
// A trial listed while RUNNING or WAITING changes later: poll again from below the smallest such
// number (or fetch it alone) to see it finish.
import type { FastifyPluginAsync } from 'fastify';
import { TRIAL_STATES, type TrialState } from '../../study/index.ts';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { trialJson } from '../json.ts';
import { ERRORS, STUDY_NAME_PARAMS, TRIAL } from '../schemas.ts';

// A page of 1,000 trials of a layer-wise search is about 1.5 MB of JSON; larger pages made every
// other request wait behind their serialisation. Clients page with `after` (the report page does).
export const DEFAULT_LIMIT = 200;
export const MAX_LIMIT = 1000;
const STATE_LIST = `^(${TRIAL_STATES.join('|')})(,(${TRIAL_STATES.join('|')}))*$`;

export function parseStates(s: string | undefined): TrialState[] | undefined {
  return s === undefined || s === '' ? undefined : ([...new Set(s.split(','))] as TrialState[]);
}

const trials: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string }; Querystring: { after?: number; limit: number; state?: string } }>('/api/studies/:name/trials', {
    schema: {
      params: STUDY_NAME_PARAMS,
      querystring: {
        type: 'object',
        properties: {
          after: { type: 'integer', minimum: -1 },
          limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
          state: { type: 'string', pattern: STATE_LIST },
          token: { type: 'string' },
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['trials', 'last', 'more'],
          properties: { trials: { type: 'array', items: TRIAL }, last: { type: ['integer', 'null'] }, more: { type: 'boolean' } },
        },
        ...ERRORS,
      },
    },
    handler: async (req, reply) => {
      const { after, limit, state } = req.query;
      const key = `trials\0${req.params.name}\0${after ?? ''}\0${limit}\0${state ?? ''}`;
      const body = ctx.pages.get(key, ctx.store.changeStamp(), () => {
        const s = studyNamed(ctx, req.params.name);
        // One extra row tells whether more follow.
        const rows = ctx.store.trials(s.id, { after, limit: limit + 1, states: parseStates(state) });
        const more = rows.length > limit;
        const page = more ? rows.slice(0, limit) : rows;
        return reply.serialize({ trials: page.map(trialJson), last: page.length ? page[page.length - 1]!.number : null, more }) as string;
      });
      return reply.type('application/json; charset=utf-8').send(body);
    },
  });
};

export default trials;
