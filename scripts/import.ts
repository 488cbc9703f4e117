import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { fhirKitClient } from '../src/exchange/fhir-kit-client';

/**
 * `npm run import -- <file or folder>...`: posts FHIR Bundle files (.json) and NDJSON files
 * (.ndjson, one resource a line) to a running server through fhir-kit-client.
 *
 * - Support bundles (hospitalInformation*, practitionerInformation*, and any batch Bundle) go first,
 *   so that the patient bundles' conditional references resolve.
 * - Safe to rerun: a POST entry whose fullUrl is `urn:uuid:<uuid>` is sent as a PUT to
 *   `Type/<uuid>`, so a second run finds the same resources and writes no new version (the server
 *   skips updates that change nothing); NDJSON resources with an id are PUT likewise. Shared
 *   resources (Organization, Practitioner...) with an identifier are sent as conditional creates
 *   on it instead, so that copies in several bundles make one resource (see idempotent()).
 * - Prints a progress line and a summary: files, resources, resources/s, failures with their
 *   OperationOutcome. Exit code 1 if anything failed.
 *
 * Options: --url (default $FHIR_URL or http://127.0.0.1:8080/fhir), --client-id / --client-secret
 * (default $AUTH_CLIENT_ID / $AUTH_CLIENT_SECRET or the development defaults), --token (a bearer
 * token instead), --concurrency (default 2), --as-is (send bundles unchanged).
 */

export interface Options {
  url: string;
  clientId: string;
  clientSecret: string;
  token?: string;
  concurrency: number;
  asIs: boolean;
  paths: string[];
}

export interface Failure {
  file: string;
  entry?: number;
  status?: string | number;
  outcome?: OperationOutcome;
  message: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    url: process.env.FHIR_URL || 'http://127.0.0.1:8080/fhir',
    clientId: process.env.AUTH_CLIENT_ID || 'admin',
    clientSecret: process.env.AUTH_CLIENT_SECRET || 'dev-only-admin-secret',
    concurrency: 2,
    asIs: false,
    paths: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--url') o.url = next().replace(/\/+$/, '');
    else if (a === '--client-id') o.clientId = next();
    else if (a === '--client-secret') o.clientSecret = next();
    else if (a === '--token') o.token = next();
    else if (a === '--concurrency') o.concurrency = Math.max(1, Number(next()) || 1);
    else if (a === '--as-is') o.asIs = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run import -- [--url URL] [--client-id ID --client-secret S | --token T] [--concurrency N] [--as-is] <file or folder>...\n');
      process.exit(0);
    } else o.paths.push(a);
  }
  if (!o.paths.length) throw new Error('name at least one file or folder to import');
  return o;
}

/** Files to import, support bundles first. */
export function listFiles(paths: string[]): string[] {
  const files: string[] = [];
  const add = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) add(join(p, f));
    } else if (/\.(json|ndjson)$/i.test(p)) files.push(p);
  };
  paths.forEach(add);
  const rank = (f: string) => (/^hospitalInformation/i.test(basename(f)) ? 0 : /^practitionerInformation/i.test(basename(f)) ? 1 : 2);
  return files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Resources that belong to no patient and that several bundles carry (Synthea's support bundles
 * create them with ifNoneExist; its older exports repeat them in every patient bundle, under the
 * same uuid but with other content).
 */
const SHARED_TYPES = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'HealthcareService', 'Endpoint', 'Medication']);

/**
 * Makes a bundle safe to send twice: POSTs of urn:uuid entries become PUTs to that uuid, except
 * shared resources (SHARED_TYPES) with an identifier, which become conditional creates on it
 * (first writer wins), so that a support bundle's ifNoneExist entry and a patient bundle's copy of
 * the same Organization or Practitioner make one resource, not two that every later conditional
 * reference or ifNoneExist on that identifier would find (412). Pure.
 */
export function idempotent(bundle: Bundle): Bundle {
  return {
    ...bundle,
    entry: bundle.entry?.map((e: BundleEntry) => {
      const uuid = /^urn:uuid:([0-9a-fA-F-]{36})$/.exec(e.fullUrl ?? '')?.[1];
      if (e.request?.method !== 'POST' || !uuid || !e.resource || e.request.ifNoneExist) return e;
      const identifier = (e.resource as { identifier?: Array<{ system?: string; value?: string }> }).identifier?.find((i) => i.system && i.value);
      if (SHARED_TYPES.has(e.resource.resourceType) && identifier) {
        const token = (s: string) => encodeURIComponent(s.replace(/[\\|,$]/g, '\\$&'));
        return { ...e, request: { ...e.request, ifNoneExist: `identifier=${token(identifier.system as string)}|${token(identifier.value as string)}` } };
      }
      return { ...e, resource: { ...e.resource, id: uuid }, request: { method: 'PUT', url: `${e.resource.resourceType}/${uuid}` } };
    }),
  };
}

/** NDJSON lines as batch bundles of at most `size` entries. */
function ndjsonBundles(text: string, size = 500): Bundle[] {
  const resources = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Resource);
  const bundles: Bundle[] = [];
  for (let i = 0; i < resources.length; i += size) {
    bundles.push({
      resourceType: 'Bundle',
      type: 'batch',
      entry: resources.slice(i, i + size).map((r) => ({
        resource: r,
        request: r.id ? { method: 'PUT', url: `${r.resourceType}/${r.id}` } : { method: 'POST', url: r.resourceType },
      })),
    });
  }
  return bundles;
}

async function fetchToken(o: Options): Promise<string> {
  if (o.token) return o.token;
  const tokenUrl = o.url.replace(/\/fhir$/, '') + '/auth/token';
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: o.clientId, client_secret: o.clientSecret }),
  });
  if (!res.ok) throw new Error(`token request to ${tokenUrl} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export interface ImportSummary {
  files: number;
  resources: number;
  seconds: number;
  failures: Failure[];
}

/** Imports every file; `quiet` suppresses the progress line. */
export async function runImport(o: Options, quiet = false): Promise<ImportSummary> {
  const files = listFiles(o.paths);
  const client = fhirKitClient({ baseUrl: o.url, bearerToken: await fetchToken(o), customHeaders: { Prefer: 'return=minimal' } });
  const failures: Failure[] = [];
  let resources = 0;
  let done = 0;
  const started = Date.now();
  const tty = process.stderr.isTTY;
  const progress = () => {
    const secs = (Date.now() - started) / 1000;
    const width = 30;
    const filled = Math.round((done / files.length) * width);
    if (quiet) return;
    const line = `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${files.length} files, ${resources} resources, ${Math.round(resources / Math.max(secs, 0.001))}/s, ${failures.length} failures`;
    process.stderr.write(tty ? `\r${line}` : `${line}\n`);
  };

  const send = async (file: string, bundle: Bundle) => {
    const body = o.asIs ? bundle : idempotent(bundle);
    try {
      const payload = body as unknown as Parameters<typeof client.batch>[0]['body'];
      const response = (await (bundle.type === 'transaction' ? client.transaction({ body: payload }) : client.batch({ body: payload }))) as unknown as Bundle;
      let ok = 0;
      response.entry?.forEach((e, i) => {
        const status = String(e.response?.status ?? '');
        if (/^2/.test(status)) ok++;
        else failures.push({ file, entry: i, status, outcome: e.response?.outcome as OperationOutcome, message: 'entry failed' });
      });
      resources += ok;
    } catch (e) {
      const err = e as { response?: { status?: number; data?: OperationOutcome }; message?: string };
      failures.push({ file, status: err.response?.status, outcome: err.response?.data, message: err.message ?? String(e) });
    }
  };

  // Support bundles one at a time, in order; patient bundles with some concurrency.
  const support = files.filter((f) => /^(hospital|practitioner)Information/i.test(basename(f)));
  const rest = files.filter((f) => !support.includes(f));
  const importFile = async (file: string) => {
    const text = readFileSync(file, 'utf8');
    if (/\.ndjson$/i.test(file)) {
      for (const b of ndjsonBundles(text)) await send(file, b);
    } else {
      await send(file, JSON.parse(text) as Bundle);
    }
    done++;
    progress();
  };
  for (const f of support) await importFile(f);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, rest.length) }, async () => {
      while (next < rest.length) await importFile(rest[next++]);
    }),
  );
  if (tty && !quiet) process.stderr.write('\n');
  return { files: files.length, resources, seconds: (Date.now() - started) / 1000, failures };
}

async function main(): Promise<void> {
  const { files, resources, seconds: secs, failures } = await runImport(parseArgs(process.argv.slice(2)));
  process.stdout.write(
    `\nImported ${resources} resources from ${files} files in ${secs.toFixed(1)} s (${Math.round(resources / Math.max(secs, 0.001))} resources/s); ${failures.length} failures\n`,
  );
  for (const f of failures.slice(0, 50)) {
    const issues = f.outcome?.issue?.map((i) => i.diagnostics ?? i.details?.text).join('; ');
    process.stdout.write(`  ${basename(f.file)}${f.entry !== undefined ? ` entry ${f.entry}` : ''}: ${f.status ?? ''} ${issues ?? f.message}\n`);
  }
  if (failures.length > 50) process.stdout.write(`  ... and ${failures.length - 50} more\n`);
  process.exitCode = failures.length ? 1 : 0;
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`import failed: ${e instanceof Error ? e.message : e}\n`);
    process.exit(2);
  });
}
