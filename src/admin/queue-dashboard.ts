import { createHash } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { ClientLogin } from '../auth/client-login.service';
import { TokenCheck } from '../auth/token-check.service';
import { outcome } from '../fhir/operation-outcome';
import { ApiQueues } from '../queue/api-queues';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** How long a checked Basic credential is trusted (scrypt per asset request would be slow). */
const BASIC_CACHE_MS = 60_000;

/**
 * The queue dashboard (bull-board) for administrators, at /admin/queues: every queue's jobs by
 * state, failed jobs with their error, retry and clean. A browser signs in with an admin
 * client's id and secret (HTTP Basic); tools may send an admin bearer token instead.
 */
export function mountQueueDashboard(app: NestExpressApplication): void {
  const queues = app.get(ApiQueues, { strict: false });
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({ queues: queues.all.map((q) => new BullMQAdapter(q)), serverAdapter: adapter, options: { uiConfig: { boardTitle: 'FHIR AI queues' } } });
  const guard = adminOnly(app.get(TokenCheck, { strict: false }), app.get(ClientLogin, { strict: false }));
  app.use(QUEUE_DASHBOARD_PATH, guard, adapter.getRouter());
}

function adminOnly(tokens: TokenCheck, logins: ClientLogin) {
  const trusted = new Map<string, number>();
  /** 200: an administrator; 401: no or wrong credentials; 403: someone else; a number of seconds: locked out (429). */
  const check = async (header: string | undefined): Promise<200 | 401 | 403 | { retryAfter: number }> => {
    const bearer = header && /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) {
      const auth = await tokens.check(bearer[1]).catch(() => undefined);
      if (!auth) return 401;
      return auth.scopes.includes('admin') ? 200 : 403;
    }
    const basic = header && /^Basic\s+(\S+)\s*$/i.exec(header);
    if (!basic) return 401;
    const key = createHash('sha256').update(basic[1]).digest('hex');
    if ((trusted.get(key) ?? 0) > Date.now()) return 200;
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // The same per-client-id throttle as the token endpoint: Basic is no way around it.
    const login = colon > 0 ? await logins.login(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
    if (login && 'refused' in login && login.refused === 'locked') return { retryAfter: login.retryAfter };
    const client = login && 'client' in login ? login.client : undefined;
    if (!client) return 401;
    if (!client.scopes.includes('admin')) return 403;
    if (trusted.size > 1000) trusted.clear();
    trusted.set(key, Date.now() + BASIC_CACHE_MS);
    return 200;
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    check(req.headers.authorization).then(
      (status) => {
        if (status === 200) return next();
        if (typeof status === 'object') {
          res
            .status(429)
            .setHeader('Retry-After', String(status.retryAfter))
            .type('application/fhir+json')
            .send(outcome([{ severity: 'error', code: 'throttled', diagnostics: `Too many failed sign-ins for this client id: try again in ${status.retryAfter} s` }]));
          return;
        }
        if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="queue dashboard", charset="UTF-8"');
        res
          .status(status)
          .type('application/fhir+json')
          .send(outcome([{ severity: 'error', code: status === 401 ? 'login' : 'forbidden', diagnostics: 'The queue dashboard is for administrators: sign in with an admin client id and secret' }]));
      },
      (err: unknown) => next(err),
    );
  };
}
