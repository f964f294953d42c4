// GET /api/studies/:name/pareto?objectives=a,b: the non-dominated COMPLETE trials over the chosen
// objectives (default: all), the hypervolume they dominate and the reference point it is measured
// from (in the objectives' own units; see front.ts for how it is chosen).
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { computeFront } from '../front.ts';
import { HttpError } from '../auth.ts';
import { ERRORS, STUDY_NAME_PARAMS } from '../schemas.ts';

const pareto: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string }; Querystring: { objectives?: string } }>('/api/studies/:name/pareto', {
    schema: {
      params: STUDY_NAME_PARAMS,
      querystring: { type: 'object', properties: { objectives: { type: 'string', maxLength: 10_000 }, token: { type: 'string' } } },
      response: {
        200: {
          type: 'object',
          required: ['objectives', 'directions', 'trials', 'hypervolume', 'reference', 'considered'],
          properties: {
            objectives: { type: 'array', items: { type: 'string' } },
            directions: { type: 'array', items: { type: 'string', enum: ['maximize', 'minimize'] } },
            trials: { type: 'array', items: { type: 'integer' } },
            hypervolume: { type: 'number' },
            reference: { type: ['array', 'null'], items: { type: 'number' } },
            considered: { type: 'integer' },
          },
        },
        ...ERRORS,
      },
    },
    handler: async (req, reply) => {
      const s = studyNamed(ctx, req.params.name);
      const known = s.objectives.map((o) => o.name);
      let indices = known.map((_, i) => i);
      if (req.query.objectives !== undefined && req.query.objectives !== '') {
        const asked = req.query.objectives.split(',').map((n) => n.trim());
        indices = asked.map((n) => {
          const i = known.indexOf(n);
          if (i < 0) throw new HttpError('SERVER_E_REQUEST', 400, `study "${s.name}" has no objective "${n}"; its objectives: ${known.join(', ')}`);
          return i;
        });
        const dup = asked.find((n, i) => asked.indexOf(n) !== i);
        if (dup !== undefined) throw new HttpError('SERVER_E_REQUEST', 400, `objective "${dup}" is named twice in objectives=${req.query.objectives}`);
      }
      const body = ctx.pages.get(`pareto\0${s.name}\0${indices.join(',')}`, ctx.store.changeStamp(), () =>
        reply.serialize(computeFront(ctx.store.trials(s.id, { states: ['COMPLETE'] }), s.objectives, indices)) as string,
      );
      return reply.type('application/json; charset=utf-8').send(body);
    },
  });
};

export default pareto;
