// POST /api/launch {config: YAML text}: check the study config completely, then start
// `mergesearch search` on it in a child process (see launches.ts) → 202 {launch, study}.
// GET /api/launch/:id: its state, exit code and last output lines. GET /api/launch: all launches.
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';
import { LOG_LINES } from '../launches.ts';
import { ERRORS } from '../schemas.ts';

const LAUNCH = {
  type: 'object',
  required: ['id', 'study', 'state', 'code', 'signal', 'pid', 'started', 'finished', 'config', 'log'],
  properties: {
    id: { type: 'string' },
    study: { type: 'string' },
    state: { type: 'string', enum: ['running', 'exited'] },
    code: { type: ['integer', 'null'] },
    signal: { type: ['string', 'null'] },
    pid: { type: ['integer', 'null'] },
    started: { type: 'integer' },
    finished: { type: ['integer', 'null'] },
    config: { type: 'string', description: 'the config file written under <outputRoot>/launches/' },
    log: { type: 'array', maxItems: LOG_LINES, items: { type: 'string' } },
  },
} as const;

const launch: FastifyPluginAsync<RouteOptions> = async (app, { ctx }) => {
  app.post<{ Body: { config: string } }>('/api/launch', {
    schema: {
      body: {
        type: 'object',
        required: ['config'],
        additionalProperties: false,
        properties: { config: { type: 'string', minLength: 1 } },
      },
      response: {
        202: { type: 'object', required: ['launch', 'study'], properties: { launch: { type: 'string' }, study: { type: 'string' } } },
        ...ERRORS,
      },
    },
    handler: async (req, reply) => {
      const { id, study } = ctx.launches.start(req.body.config);
      return reply.status(202).send({ launch: id, study });
    },
  });

  app.get<{ Params: { id: string } }>('/api/launch/:id', {
    schema: {
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } },
      response: { 200: LAUNCH, ...ERRORS },
    },
    handler: async (req) => ctx.launches.get(req.params.id),
  });

  app.get('/api/launch', {
    schema: { response: { 200: { type: 'object', required: ['launches'], properties: { launches: { type: 'array', items: LAUNCH } } }, ...ERRORS } },
    handler: async () => ({ launches: ctx.launches.list() }),
  });
};

export default launch;
