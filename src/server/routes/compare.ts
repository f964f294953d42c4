// GET /api/studies/:name/compare: best-so-far curves (recommendation score and each objective) of every study with the same objectives on the same zoo or base checkpoint (src/server/compare.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { studyAnalysis } from '../analysis.ts';
import { studyNamed } from '../study-lookup.ts';
import { ERRORS, STUDY_NAME_PARAMS } from '../schemas.ts';

const route: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string } }>('/api/studies/:name/compare', {
    schema: {
      params: STUDY_NAME_PARAMS,
      querystring: { type: 'object', properties: { token: { type: 'string' } } },
      // The shape is documented in src/server/compare.ts; numbers that are not finite come as strings (json.ts).
      response: { 200: { type: 'object', additionalProperties: true }, ...ERRORS },
    },
    handler: async (req, reply) => {
      const s = studyNamed(ctx, req.params.name);
      const body = ctx.pages.get(`compare\0${s.name}`, ctx.store.changeStamp(), () => JSON.stringify(studyAnalysis(ctx.store, s, 'compare', ctx.db)));
      return reply.type('application/json; charset=utf-8').send(body);
    },
  });
};

export default route;
