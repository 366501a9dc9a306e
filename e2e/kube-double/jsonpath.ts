/** The subset of kubectl JSONPath the printer columns and scale paths use: `.a.b`, `[n]`, `[?(@.k=="v")]`. */

type Step = { field: string } | { index: number } | { filterKey: string; filterValue: string };

export function compileJsonPath(path: string): (obj: unknown) => unknown[] {
  const steps: Step[] = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]|\[\?\(@\.([\w-]+)\s*==\s*["']([^"']*)["']\)\]/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path))) {
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else steps.push({ filterKey: m[3], filterValue: m[4] });
  }
  if (re.lastIndex !== path.length && path.length > 0) throw new Error(`unsupported JSONPath ${path}`);
  return (obj) => {
    let cur: unknown[] = [obj];
    for (const s of steps) {
      const next: unknown[] = [];
      for (const v of cur) {
        if ('field' in s) {
          if (v !== null && typeof v === 'object' && !Array.isArray(v) && s.field in v) next.push((v as Record<string, unknown>)[s.field]);
        } else if ('index' in s) {
          if (Array.isArray(v) && s.index < v.length) next.push(v[s.index]);
        } else if (Array.isArray(v)) {
          for (const e of v) if (e !== null && typeof e === 'object' && String((e as Record<string, unknown>)[s.filterKey]) === s.filterValue) next.push(e);
        }
      }
      cur = next;
    }
    return cur;
  };
}

/** Sets a plain dotted path (`.spec.replicas`), creating objects on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.').filter(Boolean);
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (cur[k] === null || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}
