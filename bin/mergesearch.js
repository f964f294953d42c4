#!/usr/bin/env node
// The published entry point: runs the TypeScript CLI through tsx, so `npx mergesearch`
// works right after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
