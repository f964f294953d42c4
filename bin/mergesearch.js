#!/usr/bin/env node
// The published entry point. Runs the compiled CLI (dist/, built by `npm install` through the
// `prepare` script, or by `npm run build`) while it is up to date with the TypeScript sources, else
// the sources through tsx: `npx mergesearch` works right after `npm install`, and while editing
// src/. MERGESEARCH_FROM_SOURCE=1 always runs the sources.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledIsCurrent } from './compiled-is-current.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let main;
if (process.env.MERGESEARCH_FROM_SOURCE !== '1' && compiledIsCurrent(root)) {
  ({ main } = await import('../dist/src/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
await main(process.argv);
