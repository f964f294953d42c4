// The study config as the report page shows it: the YAML text the user wrote (stored by the search
// as a study attribute), or, for studies started before that or by other tools, the stored config
// written out as YAML (normalised: paths resolved, `tasks: all` kept, defaults filled in).
import YAML from 'yaml';
import { ATTR_CONFIG_YAML } from '../search/study-attrs.ts';
import type { StudyRow } from '../study/index.ts';

export interface ConfigYaml {
  text: string;
  /** `written`: the user's file as it was; `stored`: the normalised record written out. */
  from: 'written' | 'stored';
}

export function configYaml(s: StudyRow, attrs: Record<string, unknown>): ConfigYaml | null {
  const written = attrs[ATTR_CONFIG_YAML];
  if (typeof written === 'string' && written.trim() !== '') return { text: written, from: 'written' };
  if (s.config === null || s.config === undefined) return null;
  return { text: YAML.stringify(s.config), from: 'stored' };
}
