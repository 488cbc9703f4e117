/**
 * `npm run clients -- <command>`: manages OAuth2 clients through the administrator API
 * (/api/clients) of a running server.
 *
 *   create --role <admin|ehr-system|clinician|data-scientist|patient> [--practitioner Practitioner/<id>] [--patient Patient/<id>]
 *   list
 *   rotate <client_id>
 *   revoke <client_id>
 *
 * Options: --url (default $SERVER_URL or http://127.0.0.1:8080), --client-id / --client-secret of an
 * administrator (default $AUTH_CLIENT_ID / $AUTH_CLIENT_SECRET or the development defaults).
 * Prints the API's JSON answer; a new secret is shown once.
 */

interface Args {
  command?: string;
  positional: string[];
  flags: Record<string, string>;
}

function parse(argv: string[]): Args {
  const args: Args = { positional: [], flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`${a} needs a value`);
      args.flags[a.slice(2)] = value;
      i++;
    } else if (!args.command) args.command = a;
    else args.positional.push(a);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const url = (args.flags.url ?? process.env.SERVER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const clientId = args.flags['client-id'] ?? process.env.AUTH_CLIENT_ID ?? 'admin';
  const clientSecret = args.flags['client-secret'] ?? process.env.AUTH_CLIENT_SECRET ?? 'dev-only-admin-secret';

  const tokenRes = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  if (!tokenRes.ok) throw new Error(`could not log in as ${clientId}: ${tokenRes.status} ${await tokenRes.text()}`);
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/clients${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    process.stdout.write(`${text}\n`);
    if (!res.ok) process.exitCode = 1;
  };

  switch (args.command) {
    case 'create': {
      if (!args.flags.role) throw new Error('create needs --role');
      await call('POST', '', {
        role: args.flags.role,
        ...(args.flags.practitioner ? { practitioner: args.flags.practitioner } : {}),
        ...(args.flags.patient ? { patient: args.flags.patient } : {}),
      });
      break;
    }
    case 'list':
      await call('GET', '');
      break;
    case 'rotate':
    case 'revoke': {
      const id = args.positional[0];
      if (!id) throw new Error(`${args.command} needs a client_id`);
      await call(args.command === 'rotate' ? 'POST' : 'DELETE', `/${encodeURIComponent(id)}${args.command === 'rotate' ? '/rotate' : ''}`);
      break;
    }
    default:
      throw new Error('usage: npm run clients -- create --role ROLE [--practitioner Practitioner/ID] [--patient Patient/ID] | list | rotate ID | revoke ID');
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
  process.exit(2);
});
