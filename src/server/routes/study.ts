// GET /api/studies/:name: one study with its stored config, study attributes (MAP's predicted
// front, evaluations, elapsed seconds, ...), notes, and the config as YAML (config-yaml.ts).
import type { FastifyPluginAsync } from 'fastify';
import { TRIAL_STATES, type TrialState } from '../../study/index.ts';
import type { RouteOptions } from '../context.ts';
import { studyNamed } from '../study-lookup.ts';
import { configYaml } from '../config-yaml.ts';
import { jsonSafe, studyHeadJson } from '../json.ts';
import { ERRORS, STUDY_DETAIL, STUDY_NAME_PARAMS } from '../schemas.ts';

const study: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get<{ Params: { name: string } }>('/api/studies/:name', {
    schema: {
      params: STUDY_NAME_PARAMS,
      response: { 200: { type: 'object', required: ['study'], properties: { study: STUDY_DETAIL } }, ...ERRORS },
    },
    handler: async (req) => {
      const { store } = ctx;
      const s = studyNamed(ctx, req.params.name);
      const counts = Object.fromEntries(TRIAL_STATES.map((st) => [st, store.countTrials(s.id, [st])])) as Record<TrialState, number>;
      const attrs = store.studyAttrs(s.id);
      return {
        study: {
          ...studyHeadJson(s, counts),
          config: jsonSafe(s.config),
          yaml: configYaml(s, attrs),
          attrs: jsonSafe(attrs),
          notes: store.notes(s.id),
        },
      };
    },
  });
};

export default study;
