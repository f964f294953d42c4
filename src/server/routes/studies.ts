// GET /api/studies: every study in the database with its objectives and trial counts per state.
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { summaryJson } from '../json.ts';
import { ERRORS, STUDY_HEAD } from '../schemas.ts';

const studies: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.get('/api/studies', {
    schema: {
      response: {
        200: { type: 'object', required: ['studies'], properties: { studies: { type: 'array', items: STUDY_HEAD } } },
        ...ERRORS,
      },
    },
    handler: async () => ({ studies: ctx.store.listStudies().map(summaryJson) }),
  });
};

export default studies;
