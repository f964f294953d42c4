// GET /vendor/plotly.min.js: the plotting library of the report page, served from the installed
// `plotly.js-dist-min` package (no CDN: the page works offline and on machines without internet).
// Public (no token): it is a library and holds no data.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from '../context.ts';

const require = createRequire(import.meta.url);

/** Absolute path of the installed plotly bundle. */
export function plotlyPath(): string {
  return require.resolve('plotly.js-dist-min/plotly.min.js');
}

const vendor: FastifyPluginAsync<RouteOptions> = async (app) => {
  app.get('/vendor/plotly.min.js', { config: { public: true } }, async (_req, reply) => {
    const file = plotlyPath();
    // The bundle changes only when the package is upgraded; let the browser keep it for an hour.
    reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8');
    reply.header('content-length', fs.statSync(file).size);
    return reply.send(fs.createReadStream(file));
  });
};

export default vendor;
