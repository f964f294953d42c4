// GET /api/studies/:name/{recommendation,importance,compare}: the study's analyses (src/server/analysis.ts),
// each cached by the store's change stamp:
//   - recommendation: the recommended merge under the study's rule (best weighted mean of the
//     objectives; prefer:), the stored baselines with their scores, and the export command
//     (shape in src/server/recommendation.ts);
//   - importance: Spearman rank correlation of every coefficient with each objective and with the
//     recommendation score, over the COMPLETE trials (src/server/importance.ts);
//   - compare: best-so-far curves of every study with the same objectives on the same zoo or base
//     checkpoint (src/server/compare.ts).
// Numbers that are not finite come as strings (json.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { studyAnalysis, type AnalysisKind } from '../analysis.ts';
import { studyNamed } from '../study-lookup.ts';
import { ERRORS, STUDY_NAME_PARAMS } from '../schemas.ts';

const KINDS: readonly AnalysisKind[] = ['recommendation', 'importance', 'compare'];

const route: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  for (const kind of KINDS) {
    app.get<{ Params: { name: string } }>(`/api/studies/:name/${kind}`, {
      schema: {
        params: STUDY_NAME_PARAMS,
        querystring: { type: 'object', properties: { token: { type: 'string' } } },
        response: { 200: { type: 'object', additionalProperties: true }, ...ERRORS },
      },
      handler: async (req, reply) => {
        const s = studyNamed(ctx, req.params.name);
        const body = ctx.pages.get(`${kind}\0${s.name}`, ctx.store.changeStamp(), () => JSON.stringify(studyAnalysis(ctx.store, s, kind, ctx.db)));
        return reply.type('application/json; charset=utf-8').send(body);
      },
    });
  }
};

export default route;
