// JSON schemas shared by the routes: request parts are validated with them, responses serialised
// (and documented) by them. `NUMBER` is a number or one of the strings "NaN", "Infinity",
// "-Infinity" (see json.ts).
import { TRIAL_STATES } from '../study/index.ts';

// (Plain type lists, not anyOf: the serialiser picks a branch by typeof, which is fast on 10,000 trials.)
export const NUMBER = { type: ['number', 'string'], description: 'a number, or "NaN", "Infinity", "-Infinity"' } as const;

export const ERROR_RESPONSE = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

/** Error responses every route may give (the error handler builds them). */
export const ERRORS = { '4xx': ERROR_RESPONSE, '5xx': ERROR_RESPONSE } as const;

export const STUDY_NAME_PARAMS = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export const TRIAL_PARAMS = {
  type: 'object',
  required: ['name', 'number'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, number: { type: 'integer', minimum: 0 } },
} as const;

const OBJECTIVE = {
  type: 'object',
  required: ['name', 'direction'],
  properties: { name: { type: 'string' }, direction: { type: 'string', enum: ['maximize', 'minimize'] } },
} as const;

const COUNTS = {
  type: 'object',
  required: [...TRIAL_STATES],
  properties: Object.fromEntries(TRIAL_STATES.map((s) => [s, { type: 'integer' }])),
} as const;

const STUDY_HEAD_PROPERTIES = {
  name: { type: 'string' },
  optimizer: { type: 'string' },
  backend: { type: 'string' },
  seed: { type: 'integer' },
  created: { type: 'string' },
  objectives: { type: 'array', items: OBJECTIVE },
  counts: COUNTS,
} as const;

const STUDY_HEAD_REQUIRED = ['name', 'optimizer', 'backend', 'seed', 'created', 'objectives', 'counts'];

export const STUDY_HEAD = { type: 'object', required: STUDY_HEAD_REQUIRED, properties: STUDY_HEAD_PROPERTIES } as const;

export const STUDY_DETAIL = {
  type: 'object',
  required: [...STUDY_HEAD_REQUIRED, 'config', 'attrs', 'notes'],
  properties: {
    ...STUDY_HEAD_PROPERTIES,
    // The stored study config (src/search/study-identity.ts): version, identity (zoo or checkpoints,
    // space, objectives, samples, optimizer, seed), budget, source. Studies made by other tools may
    // hold anything, so unknown shapes pass through.
    config: {
      anyOf: [
        {
          type: 'object',
          properties: {
            version: { type: 'integer' },
            identity: {
              type: 'object',
              properties: {
                zoo: { type: ['string', 'null'] },
                checkpoints: { anyOf: [{ type: 'null' }, { type: 'object', properties: { base: { type: 'string' }, experts: { type: 'array', items: { type: 'string' } } }, additionalProperties: true }] },
                space: { type: 'object', additionalProperties: true },
                objectives: { type: 'array', items: { type: 'object', additionalProperties: true } },
                samples: { type: ['integer', 'null'] },
                optimizer: { type: 'object', additionalProperties: true },
                seed: { type: 'integer' },
              },
              additionalProperties: true,
            },
            budget: { type: 'object', additionalProperties: true },
            source: { type: ['string', 'null'] },
          },
          additionalProperties: true,
        },
        {},
      ],
    },
    // The config as the user wrote it (from: written) or the stored one as YAML (from: stored); config-yaml.ts.
    yaml: { anyOf: [{ type: 'null' }, { type: 'object', required: ['text', 'from'], properties: { text: { type: 'string' }, from: { type: 'string', enum: ['written', 'stored'] } } }] },
    attrs: { type: 'object', additionalProperties: true },
    notes: {
      type: 'array',
      items: { type: 'object', required: ['created', 'text'], properties: { created: { type: 'string' }, text: { type: 'string' } } },
    },
  },
} as const;

const TRIAL_PROPERTIES = {
  number: { type: 'integer' },
  state: { type: 'string', enum: [...TRIAL_STATES] },
  started: { type: ['integer', 'null'] },
  finished: { type: ['integer', 'null'] },
  worker: { type: ['string', 'null'] },
  error: { type: ['string', 'null'] },
  retryOf: { type: ['integer', 'null'] },
  x: { type: 'array', items: NUMBER },
  values: { type: ['array', 'null'], items: NUMBER },
  intermediate: {
    type: 'array',
    items: { type: 'object', required: ['step', 'value'], properties: { step: { type: 'integer' }, value: NUMBER } },
  },
  attrs: { type: 'object', additionalProperties: true },
} as const;

const TRIAL_REQUIRED = ['number', 'state', 'started', 'finished', 'worker', 'error', 'retryOf', 'x', 'values', 'intermediate', 'attrs'];

export const TRIAL = { type: 'object', required: TRIAL_REQUIRED, properties: TRIAL_PROPERTIES } as const;

export const TRIAL_DETAIL = {
  type: 'object',
  required: [...TRIAL_REQUIRED, 'decoded', 'coefficients'],
  properties: {
    ...TRIAL_PROPERTIES,
    // DecodedParams as stored (method, fixed, parameters), or null.
    decoded: {},
    models: { type: 'array', items: { type: 'string' } },
    modelsFrom: { type: 'string', enum: ['zoo', 'checkpoints', 'numbered'] },
    coefficients: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['scope', 'granularity', 'models', 'units', 'values'],
        properties: {
          scope: { type: 'string', enum: ['model', 'global'] },
          granularity: { type: 'string' },
          models: { type: ['array', 'null'], items: { type: 'string' } },
          units: { type: 'array', items: { type: 'string' } },
          values: { type: 'array', items: { type: 'array', items: NUMBER } },
        },
      },
    },
  },
} as const;
