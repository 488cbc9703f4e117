import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { Client } from 'pg';
import { peakRssKb, startBenchApi } from './bench-ingest';
import { runImport } from './import';

/**
 * `npm run bench:search [-- <fixtures folder>]`: read and search throughput and latency of the
 * real API. Starts the API on a fresh database (as bench:ingest does), loads the Synthea SMART
 * fixtures (one transaction Bundle per patient), picks the values to search for from the loaded
 * data, then drives each scenario on its own with autocannon (16 connections, BENCH_DURATION
 * seconds each, default 10) and prints requests/s, p50/p95/p99 latency and non-2xx responses
 * (successful responses only) against the targets (read by id >= 3,000 req/s; every search,
 * $everything included, p95 < 25 ms). The API runs with AuditEvents on and rate limits at their
 * largest allowed value (10,000,000/min; the brief's 100,000,000 is refused by the config). The database is
 * dropped afterwards. Exit code 0 whatever the numbers (it is a benchmark, not a test); 1 when the
 * benchmark itself cannot run (a scenario's check request fails, the server does not start).
 *
 * Environment: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 16), BENCH_WARMUP (s
 * of untimed load before each scenario, default 1), BENCH_ROTATE (how many patients/values each
 * scenario cycles through, default 8), BENCH_CONCURRENCY (bundles loaded at once, default 2),
 * AUDIT_EVENTS (passed to the API; default all, the real system), BENCH_ANALYZE (analyze: only
 * ANALYZE after the load, not VACUUM (ANALYZE); 0: neither), BENCH_DATABASE_BASE_URL (default
 * postgres://postgres@127.0.0.1:5432; postgres://postgres@%2Fvar%2Frun%2Fpostgresql for the local
 * socket), BENCH_SCENARIOS (comma-separated parts of
 * scenario names: only those are driven, e.g. "everything,_sort"), BENCH_KEEP_DATABASE (a name:
 * the loaded database is copied to it at the end, to EXPLAIN the queries afterwards).
 *
 * Besides latency, each scenario reports the CPU time per request (from /proc, so nearly
 * independent of other load) of the API process and of the database's PostgreSQL backends.
 */

// autocannon ships no type declarations: the little used here.
interface AutocannonRequest {
  method: string;
  path: string;
}
interface AutocannonResult {
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
  stop(): void;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
  requests: AutocannonRequest[];
  timeout?: number;
}) => AutocannonInstance;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const LOINC = 'http://loinc.org';
const SSN = 'http://hl7.org/fhir/sid/us-ssn';
const READ_TARGET_RPS = 3000;
const SEARCH_TARGET_P95_MS = 25;

interface Scenario {
  name: string;
  kind: 'read' | 'search';
  /** Paths (under the server root) that connections cycle through. */
  paths: string[];
  /** Checks one response body; returns what is wrong, or undefined. `i` is the path's index. */
  check: (body: Resource, i: number) => string | undefined;
}

interface Row {
  name: string;
  kind: 'read' | 'search';
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** CPU ms per successful request: the API process, the database's PostgreSQL backends. */
  apiCpuMs: number;
  pgCpuMs: number;
}

class AbortBench extends Error {}

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v >= 0 && process.env[name] !== '' && process.env[name] !== undefined ? v : fallback;
}

async function main(): Promise<void> {
  const fixtures = resolve(process.argv[2] ?? join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'synthea', 'smart'));
  const files = existsSync(fixtures) ? readdirSync(fixtures).filter((f) => f.endsWith('.json')) : [];
  if (!files.length) {
    process.stdout.write(`bench:search skipped: no Synthea fixtures (*.json) in ${fixtures}\n`);
    return;
  }
  const duration = Math.max(1, envNumber('BENCH_DURATION', 10));
  const connections = Math.max(1, Math.round(envNumber('BENCH_CONNECTIONS', 16)));
  const warmup = envNumber('BENCH_WARMUP', 1);
  const rotate = Math.max(1, Math.round(envNumber('BENCH_ROTATE', 8)));
  const audit = process.env.AUDIT_EVENTS || 'all';
  let interrupted = false;
  // Nothing more is printed once interrupted (the run goes on until the API is stopped).
  const out = (line = '') => void (interrupted || process.stdout.write(`${line}\n`));

  out(`bench:search  ${new Date().toISOString()}`);
  out(`machine: ${cpus()[0]?.model ?? 'cpu'} x ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; ${process.platform} ${process.arch}`);
  out(`load: autocannon, ${connections} connections, ${duration} s per scenario (+${warmup} s warm-up), on the same machine as the API and PostgreSQL`);
  out(loadLine());

  // The rate limits' largest allowed value (10,000,000/min): on, as in production, but out of the way.
  const api = await startBenchApi({ LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '10000000', CLIENT_RATE_LIMIT_PER_MINUTE: '10000000', AUDIT_EVENTS: audit });
  let current: AutocannonInstance | undefined;
  const interrupt = () => {
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping the API and dropping its database\n');
    current?.stop();
    void api.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    out(`server: API process ${api.pid}, database ${new URL(api.databaseUrl).pathname.slice(1)} (${await postgresVersion(api.databaseUrl)}) over ${transportOf(api.databaseUrl)}`);
    out(
      `audit events: ${audit}${audit === 'all' ? ' (ON: the server writes an AuditEvent for every request, the benchmark\'s included)' : ' (not the default: AUDIT_EVENTS is set)'}; rate limits 10,000,000/min per address and per client`,
    );
    out();

    // 1. Load.
    const summary = await runImport(
      {
        url: `${api.base}/fhir`,
        clientId: 'admin',
        clientSecret: 'dev-only-admin-secret',
        concurrency: Math.max(1, Math.round(envNumber('BENCH_CONCURRENCY', 2))),
        asIs: false,
        paths: [fixtures],
      },
      true,
    );
    out(
      `loaded ${summary.resources} resources from ${summary.files} transaction Bundles (${fixtures}) in ${summary.seconds.toFixed(2)} s (${Math.round(summary.resources / summary.seconds)} resources/s); ${summary.failures.length} failures`,
    );
    for (const f of summary.failures.slice(0, 5)) out(`  failure: ${f.file}${f.entry !== undefined ? ` entry ${f.entry}` : ''} ${f.status ?? ''} ${f.outcome?.issue?.[0]?.diagnostics ?? f.message}`);
    // Fresh tables have no planner statistics and no visibility map until autovacuum gets round to
    // them (it vacuums and analyzes tables after large inserts, a minute or more later, possibly in
    // the middle of a scenario): do what it would do, once, so that every scenario sees a database at
    // rest and the same plans.
    const maintenance = process.env.BENCH_ANALYZE === '0' ? undefined : process.env.BENCH_ANALYZE === 'analyze' ? 'ANALYZE' : 'VACUUM (ANALYZE)';
    if (maintenance) {
      const t = Date.now();
      await maintain(api.databaseUrl, maintenance);
      out(`${maintenance} after the load: ${((Date.now() - t) / 1000).toFixed(1)} s (BENCH_ANALYZE=analyze for ANALYZE only, 0 for neither)`);
    } else out('no VACUUM or ANALYZE after the load (BENCH_ANALYZE=0): plans depend on when autovacuum gets to the new tables');

    // 2. Values from the loaded data.
    const token = await fetchToken(api.base);
    const headers = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
    const get = async (path: string): Promise<{ status: number; body: Resource }> => {
      const res = await fetch(`${api.base}${path}`, { headers });
      const text = await res.text();
      let body: Resource;
      try {
        body = JSON.parse(text) as Resource;
      } catch {
        throw new AbortBench(`GET ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
      }
      return { status: res.status, body };
    };
    const only = (process.env.BENCH_SCENARIOS ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const scenarios = (await buildScenarios(get, rotate, out)).filter((s) => !only.length || only.some((o) => s.name.includes(o)));
    out();

    // 3. Check, then drive each scenario.
    const rows: Row[] = [];
    for (const s of scenarios) {
      for (let i = 0; i < s.paths.length; i++) {
        const { status, body } = await get(s.paths[i]);
        const problem = status !== 200 ? `status ${status}: ${describe(body)}` : s.check(body, i);
        if (problem) throw new AbortBench(`scenario "${s.name}": GET ${s.paths[i]} is not a plausible answer: ${problem}`);
      }
      const requests = s.paths.map((path) => ({ method: 'GET', path }));
      if (warmup > 0) await (current = autocannon({ url: api.base, connections, duration: warmup, headers, requests }));
      const latencies: number[] = [];
      const cpuBefore = await cpuTicks(api.pid, api.databaseUrl);
      const started = process.hrtime.bigint();
      const run = (current = autocannon({ url: api.base, connections, duration, headers, requests, timeout: 30 }));
      // Successful responses only (as autocannon's own histogram): errors answered fast would flatter the numbers.
      run.on('response', (_c, status, _bytes, ms) => {
        if (status >= 200 && status < 300) latencies.push(ms);
      });
      const result = await run;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuAfter = await cpuTicks(api.pid, api.databaseUrl);
      latencies.sort((a, b) => a - b);
      const row: Row = {
        name: s.name,
        kind: s.kind,
        rps: latencies.length / seconds,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
        apiCpuMs: ((cpuAfter.api - cpuBefore.api) * TICK_MS) / Math.max(1, latencies.length),
        pgCpuMs: (pgDelta(cpuBefore.pg, cpuAfter.pg) * TICK_MS) / Math.max(1, latencies.length),
      };
      rows.push(row);
      if (!interrupted) process.stderr.write(`  ${s.name}: ${row.rps.toFixed(0)} req/s, p95 ${fmt(row.p95)} ms, CPU ms/request API ${row.apiCpuMs.toFixed(2)} PostgreSQL ${row.pgCpuMs.toFixed(2)}\n`);
    }
    const peakKb = peakRssKb(api.pid);

    // 4. Report.
    out();
    printTable(rows, out);
    out();
    out(`targets: read by id >= ${READ_TARGET_RPS.toLocaleString('en-US')} req/s; every search p95 < ${SEARCH_TARGET_P95_MS} ms`);
    const width = Math.max(...rows.map((r) => r.name.length));
    let met = 0;
    for (const r of rows) {
      // No response at all (NaN) is a failure too.
      const pass = r.kind === 'read' ? r.rps >= READ_TARGET_RPS : r.p95 < SEARCH_TARGET_P95_MS;
      if (pass) met++;
      const measured = r.kind === 'read' ? `${r.rps.toFixed(0)} req/s` : `p95 ${fmt(r.p95)} ms`;
      out(`  ${pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(width)}  ${measured}`);
    }
    out(`${met}/${rows.length} targets met (a benchmark: the exit code does not depend on them)`);
    out(`server peak memory (VmHWM): ${(peakKb / 1024).toFixed(0)} MiB; audit events: ${audit}`);
    out(loadLine().replace('before starting', 'at the end'));
    const keep = process.env.BENCH_KEEP_DATABASE;
    if (keep && /^[a-z_][a-z0-9_]{0,62}$/.test(keep)) {
      await keepCopy(api, keep);
      out(`database copied to ${keep} (BENCH_KEEP_DATABASE): drop it when done`);
    }

  } finally {
    process.removeListener('SIGINT', interrupt);
    process.removeListener('SIGTERM', interrupt);
    await api.stop();
  }
}

/** The scenarios, with values picked from what the server holds. */
async function buildScenarios(get: (path: string) => Promise<{ status: number; body: Resource }>, rotate: number, out: (l?: string) => void): Promise<Scenario[]> {
  const patients = (await fetchAll<Patient>(get, '/fhir/Patient?_count=1000')).sort((a, b) => (a.id as string).localeCompare(b.id as string));
  const observations = await fetchAll<Observation>(get, '/fhir/Observation?_count=1000');
  const encounters = await fetchAll<Resource & { subject?: { reference?: string } }>(get, '/fhir/Encounter?_count=1000&_elements=subject');
  if (!patients.length || !observations.length) throw new AbortBench(`the server holds ${patients.length} Patients and ${observations.length} Observations after the load: nothing to search`);

  const patientOf = (o: { subject?: { reference?: string } }) => /^(?:.*\/)?Patient\/([^/]+)$/.exec(o.subject?.reference ?? '')?.[1];
  const loincCodes = (o: Observation) => (o.code?.coding ?? []).filter((c) => c.system === LOINC && c.code).map((c) => c.code as string);
  const when = (o: Observation) => o.effectiveDateTime ?? o.effectiveInstant ?? o.effectivePeriod?.start;

  // The LOINC code most Observations share.
  const codeCounts = new Map<string, number>();
  for (const o of observations) for (const c of new Set(loincCodes(o))) codeCounts.set(c, (codeCounts.get(c) ?? 0) + 1);
  const [code, codeCount] = [...codeCounts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
  const codeToken = `${LOINC}|${code}`;
  const withCode = observations.filter((o) => loincCodes(o).includes(code));

  const obsByPatient = new Map<string, Observation[]>();
  for (const o of observations) {
    const p = patientOf(o);
    if (p) obsByPatient.set(p, [...(obsByPatient.get(p) ?? []), o]);
  }
  const encountersOf = (id: string) => encounters.filter((e) => patientOf(e) === id).length;
  const family = (p: Patient) => p.name?.find((n) => n.family)?.family ?? '';
  const ssn = (p: Patient) => p.identifier?.find((i) => i.system === SSN && i.value)?.value;

  // Patients with an SSN, a family name, Observations of the code and Encounters.
  const chosen = patients
    .filter((p) => ssn(p) && family(p) && (obsByPatient.get(p.id as string) ?? []).some((o) => loincCodes(o).includes(code)) && encountersOf(p.id as string) > 0)
    .slice(0, rotate);
  if (!chosen.length) throw new AbortBench('no loaded Patient has an SSN, a family name, Encounters and Observations of the most common code');
  const ids = chosen.map((p) => p.id as string);
  const obsOf = (id: string) => obsByPatient.get(id) ?? [];
  const obsOfWithCode = (id: string) => obsOf(id).filter((o) => loincCodes(o).includes(code));
  // A name prefix: the family name's first letters (Synthea appends digits to names).
  const prefixOf = (p: Patient) => family(p).replace(/\d+$/, '').slice(0, 4);
  // String search's rule (search-values.ts): no accents, case folded by full case mapping, every sigma σ.
  const normal = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toUpperCase().toLowerCase().replace(/ς/g, 'σ');

  // Date windows, each over half of the code's Observations (day precision: ge first day, lt last day).
  const times = withCode
    .map(when)
    .filter((t): t is string => !!t)
    .map((t) => Date.parse(t))
    .sort((a, b) => a - b);
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const windows: Array<{ ge: string; lt: string; expected: number }> = [];
  for (let k = 0; k < rotate; k++) {
    const start = Math.floor((times.length * 0.5 * k) / Math.max(1, rotate - 1));
    const ge = day(times[Math.min(start, times.length - 1)]);
    const lt = day(times[Math.min(start + Math.floor(times.length / 2), times.length - 1)]);
    if (ge >= lt || windows.some((w) => w.ge === ge && w.lt === lt)) continue;
    const expected = times.filter((t) => t >= Date.parse(`${ge}T00:00:00Z`) && t < Date.parse(`${lt}T00:00:00Z`)).length;
    windows.push({ ge, lt, expected });
  }
  if (!windows.length) throw new AbortBench(`the Observations of ${codeToken} span no date range`);
  const obsIds = chosen.map((p) => obsOf(p.id as string)[0].id as string);

  out(`data: ${patients.length} Patients, ${observations.length} Observations, ${encounters.length} Encounters`);
  out(`values (cycling through ${chosen.length} patients each):`);
  out(`  patients: ${chosen.map((p) => `${p.id} (${family(p)})`).join(', ')}`);
  out(`  name prefixes: ${chosen.map(prefixOf).join(', ')}; SSNs: ${SSN}|${chosen.map(ssn).join(', ')}`);
  out(`  most common code: ${codeToken} (${codeCount} Observations)`);
  out(`  date windows: ${windows.map((w) => `[${w.ge}, ${w.lt}) ${w.expected}`).join('; ')}`);

  // Checks.
  const bundle = (b: Resource): Bundle | undefined => (b.resourceType === 'Bundle' ? (b as Bundle) : undefined);
  const matches = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Resource);
  const included = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as Resource);
  const searchset = (want: (b: Bundle, m: Resource[], i: number) => string | undefined) => (body: Resource, i: number) => {
    const b = bundle(body);
    if (!b) return `expected a Bundle, got ${describe(body)}`;
    return want(b, matches(b), i);
  };
  const totalIs = (b: Bundle, n: number, page: number) => {
    if (b.total !== n) return `total ${b.total}, the loaded data has ${n}`;
    if (matches(b).length !== Math.min(n, page)) return `${matches(b).length} matches on the page, expected ${Math.min(n, page)}`;
    return undefined;
  };
  const resourceIs = (type: string, id: string, body: Resource) => (body.resourceType === type && body.id === id ? undefined : `expected ${type}/${id}, got ${describe(body)}`);

  return [
    {
      name: 'read Patient by id',
      kind: 'read',
      paths: ids.map((id) => `/fhir/Patient/${id}`),
      check: (body, i) => resourceIs('Patient', ids[i], body),
    },
    {
      name: 'read Observation by id',
      kind: 'read',
      paths: obsIds.map((id) => `/fhir/Observation/${id}`),
      check: (body, i) => resourceIs('Observation', obsIds[i], body),
    },
    {
      name: 'Patient?name=prefix',
      kind: 'search',
      paths: chosen.map((p) => `/fhir/Patient?name=${encodeURIComponent(prefixOf(p))}`),
      check: searchset((b, m, i) => {
        const expected = patients.filter((p) => (p.name ?? []).some((n) => [n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? []), n.text].some((s) => s && normal(s).startsWith(normal(prefixOf(chosen[i])))))).length;
        if (!m.some((r) => r.id === ids[i])) return `Patient/${ids[i]} is not among the ${m.length} matches`;
        return b.total === expected ? undefined : `total ${b.total}, the loaded data has ${expected} Patients with a name starting "${prefixOf(chosen[i])}"`;
      }),
    },
    {
      name: 'Patient?identifier=ssn',
      kind: 'search',
      paths: chosen.map((p) => `/fhir/Patient?identifier=${encodeURIComponent(`${SSN}|${ssn(p)}`)}`),
      check: searchset((b, m, i) => (m.length === 1 && m[0].id === ids[i] ? undefined : `expected Patient/${ids[i]} alone, got ${m.length} matches`)),
    },
    {
      name: 'Observation?patient',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Observation?patient=Patient/${id}`),
      check: searchset((b, _m, i) => totalIs(b, obsOf(ids[i]).length, 20)),
    },
    {
      name: 'Observation?patient&code',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Observation?patient=${id}&code=${encodeURIComponent(codeToken)}`),
      check: searchset((b, _m, i) => totalIs(b, obsOfWithCode(ids[i]).length, 20)),
    },
    {
      name: 'Observation?code&date=ge&date=lt',
      kind: 'search',
      paths: windows.map((w) => `/fhir/Observation?code=${encodeURIComponent(codeToken)}&date=ge${w.ge}&date=lt${w.lt}`),
      check: searchset((b, _m, i) => totalIs(b, windows[i].expected, 20)),
    },
    {
      name: 'Observation?patient&_sort=-date',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Observation?patient=${id}&_sort=-date&_count=10`),
      check: searchset((b, m, i) => {
        const wrong = totalIs(b, obsOf(ids[i]).length, 10);
        if (wrong) return wrong;
        const dates = m.map((r) => Date.parse(when(r as Observation) ?? ''));
        if (dates.some((d, k) => k > 0 && d > dates[k - 1])) return 'matches are not newest first';
        const newest = Math.max(...obsOf(ids[i]).map((o) => Date.parse(when(o) ?? '')));
        return dates[0] === newest ? undefined : 'the first match is not the newest Observation';
      }),
    },
    {
      name: 'Observation?patient&_include=subject',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Observation?patient=${id}&_include=Observation:subject&_count=20`),
      check: searchset((b, _m, i) => {
        const wrong = totalIs(b, obsOf(ids[i]).length, 20);
        if (wrong) return wrong;
        const inc = included(b);
        return inc.length === 1 && inc[0].resourceType === 'Patient' && inc[0].id === ids[i] ? undefined : `expected Patient/${ids[i]} included, got ${inc.map(describe).join(', ') || 'nothing'}`;
      }),
    },
    {
      name: 'Patient?_id&_revinclude=Encounter',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Patient?_id=${id}&_revinclude=Encounter:subject`),
      check: searchset((b, m, i) => {
        if (m.length !== 1 || m[0].id !== ids[i]) return `expected Patient/${ids[i]} alone, got ${m.length} matches`;
        const inc = included(b);
        const n = encountersOf(ids[i]);
        return inc.length === n && inc.every((r) => r.resourceType === 'Encounter') ? undefined : `expected ${n} Encounters included, got ${inc.length}`;
      }),
    },
    {
      name: 'Observation?subject:Patient.name&code',
      kind: 'search',
      paths: chosen.map((p) => `/fhir/Observation?subject:Patient.name=${encodeURIComponent(family(p))}&code=${encodeURIComponent(codeToken)}`),
      check: searchset((b, _m, i) => {
        const f = normal(family(chosen[i]));
        const named = patients.filter((p) => (p.name ?? []).some((n) => [n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? []), n.text].some((s) => s && normal(s).startsWith(f))));
        return totalIs(b, named.reduce((n, p) => n + obsOfWithCode(p.id as string).length, 0), 20);
      }),
    },
    {
      name: 'Patient/$everything',
      kind: 'search',
      paths: ids.map((id) => `/fhir/Patient/${id}/$everything`),
      check: searchset((b, _m, i) => {
        const first = b.entry?.[0]?.resource;
        if (first?.resourceType !== 'Patient' || first.id !== ids[i]) return `the first entry is ${first ? describe(first) : 'missing'}, not Patient/${ids[i]}`;
        const atLeast = 1 + obsOf(ids[i]).length + encountersOf(ids[i]);
        if ((b.total ?? 0) < atLeast) return `total ${b.total}, expected at least ${atLeast} (the Patient, its Observations and Encounters)`;
        return (b.entry?.length ?? 0) === Math.min(b.total ?? 0, 50) ? undefined : `${b.entry?.length} entries on the page of a total ${b.total}`;
      }),
    },
  ];
}

/** Every resource a search finds, following `next` links. */
async function fetchAll<T extends Resource>(get: (path: string) => Promise<{ status: number; body: Resource }>, path: string): Promise<T[]> {
  const found: T[] = [];
  let next: string | undefined = path;
  for (let page = 0; next && page < 1000; page++) {
    const { status, body }: { status: number; body: Resource } = await get(next);
    if (status !== 200 || body.resourceType !== 'Bundle') throw new AbortBench(`GET ${next} answered ${status}: ${describe(body)}`);
    const b = body as Bundle;
    for (const e of b.entry ?? []) if (e.search?.mode === 'match' && e.resource) found.push(e.resource as T);
    const url = b.link?.find((l) => l.relation === 'next')?.url;
    next = url ? new URL(url).pathname + new URL(url).search : undefined;
  }
  return found;
}

async function fetchToken(base: string): Promise<string> {
  const res = await fetch(`${base}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'admin', client_secret: 'dev-only-admin-secret' }),
  });
  if (!res.ok) throw new AbortBench(`POST /auth/token answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** How the API reaches PostgreSQL: TCP, or a Unix socket (a host that is a directory, written %2F...). */
function transportOf(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const host = decodeURIComponent(url.hostname);
  return host.startsWith('/') ? `the local socket in ${host}` : `TCP to ${host}:${url.port || '5432'}`;
}

async function postgresVersion(databaseUrl: string): Promise<string> {
  const client = new Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0].server_version.split(' ')[0]}`;
  } catch {
    return 'PostgreSQL version unknown';
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function maintain(databaseUrl: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const TICK_MS = 10; // /proc CPU times are in clock ticks of 1/100 s (USER_HZ) on Linux

function procTicks(pid: number): number {
  try {
    // utime and stime: fields 14 and 15, counted after the command name in parentheses.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0; // the process is gone
  }
}

/** CPU ticks of the API process and of each PostgreSQL backend connected to the database. */
async function cpuTicks(apiPid: number, databaseUrl: string): Promise<{ api: number; pg: Map<number, number> }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    return { api: procTicks(apiPid), pg: new Map(rows.map((r) => [r.pid, procTicks(r.pid)])) };
  } finally {
    await client.end();
  }
}

/** Ticks the backends spent between two samples (a backend that appeared in between counts whole). */
function pgDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += t - (before.get(pid) ?? 0);
  return sum;
}

/** Stops the API and copies its database to `name` (before it is dropped), for EXPLAIN afterwards. */
async function keepCopy(api: { pid: number; databaseUrl: string }, name: string): Promise<void> {
  const exited = new Promise<void>((r) => {
    const poll = setInterval(() => {
      if (!existsSync(`/proc/${api.pid}`)) {
        clearInterval(poll);
        r();
      }
    }, 100);
  });
  process.kill(api.pid, 'SIGTERM');
  await exited;
  const db = new URL(api.databaseUrl);
  const source = db.pathname.slice(1);
  db.pathname = '/postgres';
  const client = new Client({ connectionString: db.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
    await client.query(`CREATE DATABASE ${name} TEMPLATE ${source}`);
  } finally {
    await client.end();
  }
}

/** The load average, flagged when something else keeps the machine busy (the numbers then say little). */
function loadLine(): string {
  const [one, five] = loadavg();
  const busy = one > cpus().length * 0.5 ? '  <- the machine is busy with other work: numbers are not representative' : '';
  return `load average before starting: ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) on ${cpus().length} cores${busy}`;
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(1) : '-';
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function describe(r: Resource): string {
  if (r?.resourceType === 'OperationOutcome') return `OperationOutcome: ${(r.issue ?? []).map((i) => i.diagnostics ?? i.details?.text ?? i.code).join('; ')}`;
  return r?.resourceType ? `${r.resourceType}${r.id ? `/${r.id}` : ''}` : String(r);
}

function printTable(rows: Row[], out: (l?: string) => void): void {
  const head = ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'non-2xx', 'API CPU ms/req', 'PG CPU ms/req'];
  const showErrors = rows.some((r) => r.errors > 0);
  if (showErrors) head.push('errors');
  const body = rows.map((r) => {
    const cells = [r.name, r.rps.toFixed(0), fmt(r.p50), fmt(r.p95), fmt(r.p99), String(r.non2xx), r.apiCpuMs.toFixed(2), r.pgCpuMs.toFixed(2)];
    if (showErrors) cells.push(String(r.errors));
    return cells;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  out(line(head));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) out(line(b));
}

main().catch((e) => {
  if (e instanceof AbortBench) {
    process.stderr.write(`bench:search aborted: ${e.message}\n`);
    process.exitCode = 1;
    return;
  }
  process.stderr.write(`bench:search failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});

