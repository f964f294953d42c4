// GET /api/studies/:name/trials/:number: one trial with its decoded merge parameters (as stored)
// and the same as tables per parameter: rows = models (named from the zoo or checkpoint folders,
// see coefficients.ts), columns = units.
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { coefficientTables, isDecoded, modelCount, modelNames } from '../coefficients.ts';
import { jsonSafe, trialJson } from '../json.ts';
import { ERRORS, TRIAL_DETAIL, TRIAL_PARAMS } from '../schemas.ts';

const trial: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string; number: number } }>('/api/studies/:name/trials/:number', {
    schema: {
      params: TRIAL_PARAMS,
      response: { 200: { type: 'object', required: ['trial'], properties: { trial: TRIAL_DETAIL } }, ...ERRORS },
    },
    handler: async (req) => {
      const s = studyNamed(ctx, req.params.name);
      const t = ctx.store.trial(s.id, req.params.number);
      const decoded = isDecoded(t.decoded) ? t.decoded : null;
      const { names, from } = modelNames(s, modelCount(decoded), [ctx.outputRoot, process.cwd()]);
      return {
        trial: {
          ...trialJson(t),
          decoded: jsonSafe(t.decoded),
          models: names,
          modelsFrom: from,
          coefficients: jsonSafe(coefficientTables(decoded, names)),
        },
      };
    },
  });
};

export default trial;
