/** The verdict table printed after each scenario: one row per criterion, one column per mode. */
import { formatTable } from '../loadgen/index.js';
import { modeLabel, type ScenarioResult } from './types.js';

export function formatVerdict(result: ScenarioResult): string {
  const names: Array<[string, string]> = [];
  for (const m of result.modes) {
    for (const c of m.criteria) if (!names.some(([n]) => n === c.name)) names.push([c.name, c.target]);
  }
  const rows = names.map(([name, target]) => [
    name,
    target,
    ...result.modes.map((m) => {
      const c = m.criteria.find((x) => x.name === name);
      return c ? `${c.value} ${c.pass ? 'ok' : 'FAIL'}` : '-';
    }),
  ]);
  rows.push(['verdict', '', ...result.modes.map((m) => (m.pass ? 'PASS' : 'FAIL'))]);
  const table = formatTable(['criterion', 'target', ...result.modes.map(modeLabel)], rows);
  const notes = result.modes.filter((m) => m.note).map((m) => `  ${modeLabel(m)}: ${m.note}`);
  return [table, ...notes].join('\n');
}
