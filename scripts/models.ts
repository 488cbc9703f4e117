import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * `npm run models -- <command>`: the model registry of a running server, through its API
 * (/api/models), for data scientists.
 *
 *   register <folder>          folder with manifest.json and the .onnx file it names (model.file, default model.onnx);
 *                              a rule version's manifest ({"kind": "rule", "name", "version"}) needs no file
 *   list [--task T] [--status S] [--name N] [--kind onnx|rule]
 *   show <id>
 *   shadow <id> | promote <id> | rollback <id> | retire <id>   [--reason TEXT]
 *
 * Options: --url (default $FHIR_SERVER, else http://127.0.0.1:8080; a trailing /fhir is dropped),
 * --client-id / --client-secret (default $CLIENT_ID / $CLIENT_SECRET, else $AUTH_CLIENT_ID /
 * $AUTH_CLIENT_SECRET, else the development defaults) or --token, --json (print the API's answer).
 * Exit codes: 0 done, 1 refused by the server (its OperationOutcome is printed), 2 usage or connection errors.
 */

interface Args {
  command?: string;
  positional: string[];
  flags: Record<string, string>;
  json: boolean;
}

type Env = Record<string, string | undefined>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const USAGE =
  'usage: npm run models -- register <folder> | list [--task T] [--status S] [--name N] [--kind onnx|rule] | show <id> | shadow <id> | promote <id> | rollback <id> | retire <id> [--reason TEXT]\n' +
  '       options: --url URL --client-id ID --client-secret SECRET | --token TOKEN, --json';

export class UsageError extends Error {}

function parse(argv: string[]): Args {
  const args: Args = { positional: [], flags: {}, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = true;
    else if (a === '--help' || a === '-h') throw new UsageError(USAGE);
    else if (a.startsWith('--')) {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${a} needs a value`);
      args.flags[a.slice(2)] = value;
      i++;
    } else if (!args.command) args.command = a;
    else args.positional.push(a);
  }
  return args;
}

/**
 * The folder's manifest (text) and model file, as `register` sends them. A rule version (manifest
 * `"kind": "rule"`) has no file: its implementation is the server's code.
 */
export function readModelFolder(folder: string): { manifestText: string; file?: Buffer; fileName?: string } {
  const manifestPath = path.join(folder, 'manifest.json');
  if (!existsSync(manifestPath)) throw new UsageError(`${folder} has no manifest.json`);
  const manifestText = readFileSync(manifestPath, 'utf8');
  let manifest: Json;
  try {
    manifest = JSON.parse(manifestText) as Json;
  } catch (e) {
    throw new UsageError(`${manifestPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (manifest?.kind === 'rule') return { manifestText };
  const fileName = typeof manifest?.model?.file === 'string' ? manifest.model.file : 'model.onnx';
  const filePath = path.resolve(folder, fileName);
  if (path.relative(path.resolve(folder), filePath).startsWith('..')) throw new UsageError(`model.file ${fileName} is outside ${folder}`);
  if (!existsSync(filePath) || !statSync(filePath).isFile()) throw new UsageError(`${folder} has no ${fileName} (the file manifest.json names in model.file)`);
  return { manifestText, file: readFileSync(filePath), fileName: path.basename(filePath) };
}

async function tokenFor(url: string, args: Args, env: Env): Promise<string> {
  if (args.flags.token) return args.flags.token;
  const clientId = args.flags['client-id'] ?? env.CLIENT_ID ?? env.AUTH_CLIENT_ID ?? 'admin';
  const clientSecret = args.flags['client-secret'] ?? env.CLIENT_SECRET ?? env.AUTH_CLIENT_SECRET ?? 'dev-only-admin-secret';
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  if (!res.ok) throw new UsageError(`could not log in as ${clientId}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

function summary(m: Json): string {
  return `${m.id}  ${m.task}${m.condition ? ` (${m.condition})` : ''}  ${m.status}  sha256 ${String(m.sha256).slice(0, 12)}…  registered ${m.registered_at}`;
}

/** Runs one command; returns the exit code. Output goes to `out`, errors to `err`. */
export async function runModels(argv: string[], env: Env = process.env, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  try {
    const args = parse(argv);
    const url = (args.flags.url ?? env.FHIR_SERVER ?? 'http://127.0.0.1:8080').replace(/\/+$/, '').replace(/\/fhir$/, '');
    const id = () => {
      const v = args.positional[0];
      if (!v) throw new UsageError(`${args.command} needs a model id (see list)`);
      return encodeURIComponent(v);
    };
    let request: { method: string; path: string; body?: FormData | string; json?: boolean };
    switch (args.command) {
      case 'register': {
        const folder = args.positional[0];
        if (!folder) throw new UsageError('register needs a folder holding manifest.json and the .onnx file');
        const { manifestText, file, fileName } = readModelFolder(folder);
        if (!file) {
          request = { method: 'POST', path: '', body: manifestText, json: true };
          break;
        }
        const form = new FormData();
        form.append('manifest', manifestText);
        form.append('model', new Blob([file], { type: 'application/octet-stream' }), fileName);
        request = { method: 'POST', path: '', body: form };
        break;
      }
      case 'list': {
        const q = new URLSearchParams(Object.entries(args.flags).filter(([k]) => ['task', 'status', 'name', 'kind'].includes(k)));
        request = { method: 'GET', path: q.size ? `?${q}` : '' };
        break;
      }
      case 'show':
        request = { method: 'GET', path: `/${id()}` };
        break;
      case 'shadow':
      case 'promote':
      case 'rollback':
      case 'retire':
        request = { method: 'POST', path: `/${id()}/${args.command}`, body: JSON.stringify(args.flags.reason ? { reason: args.flags.reason } : {}), json: true };
        break;
      default:
        throw new UsageError(USAGE);
    }
    const token = await tokenFor(url, args, env);
    const res = await fetch(`${url}/api/models${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(request.json ? { 'content-type': 'application/json' } : {}) },
      body: request.body,
    });
    const text = await res.text();
    let body: Json | Json[] | undefined;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const issues = (body as Json | undefined)?.issue as Json[] | undefined;
      err(`${args.command} refused: HTTP ${res.status}\n${issues ? issues.map((i) => `  - ${i.diagnostics}${i.expression ? ` (${i.expression.join(', ')})` : ''}`).join('\n') : text}\n`);
      return 1;
    }
    if (args.json) out(`${text}\n`);
    else if (Array.isArray(body)) out(body.length ? `${body.map(summary).join('\n')}\n` : 'no model versions\n');
    else if (body) {
      const extra = body.retired !== undefined ? `\nretired: ${body.retired ?? 'none'}` : body.reactivated !== undefined ? `\nactive again: ${body.reactivated}` : '';
      out(`${summary(body)}${extra}\n`);
    }
    return 0;
  } catch (e) {
    err(`${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
}

if (require.main === module) {
  void runModels(process.argv.slice(2)).then((code) => process.exit(code));
}
