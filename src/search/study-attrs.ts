// Study attributes a search writes for the report (src/server/ reads them by these names).

/** The study config's `prefer:` of the last run (null when it had none): the recommendation rule. */
export const ATTR_PREFER = 'prefer';
/** The YAML text of the study config of the last run, as the user wrote it. */
export const ATTR_CONFIG_YAML = 'config_yaml';
/** The base, tuned task arithmetic and each expert on its own task (src/search/baselines.ts). */
export const ATTR_BASELINES = 'baselines';
/** Where the last run computed: { choice: '--device' given, line: 'cpu (…)' or 'gpu: <adapter>' }. */
export const ATTR_DEVICE = 'device';
/** The coefficient vector's coordinate names (`weight[rot90][layer 3]`), in vector order. */
export const ATTR_COORDINATES = 'coordinates';
