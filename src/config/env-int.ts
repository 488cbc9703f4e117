/**
 * An integer setting read where it is used (module tunables beside AppConfig, e.g. the bulk
 * export's and the pull's): the fallback when unset or empty, else a whole number in [min, max],
 * otherwise an error naming the variable.
 */
export function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  return n;
}
