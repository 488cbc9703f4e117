import { randomUUID } from 'node:crypto';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppConfig } from '../config/app-config';
import { fhirBodyParsers } from './fhir-bodies';
import { AuditEventRecorder } from '../audit/audit-event.recorder';
import { rateLimiter } from './rate-limit';
import { SharedRateWindows } from './shared-rate-windows';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import type { Redis } from 'ioredis';
import { Metrics } from '../metrics/metrics';
import { mountQueueDashboard } from '../admin/queue-dashboard';
import { answerClientErrors } from './client-errors';
import { isNativeBinaryBody } from '../fhir/rest/binary-http';

/** Body parsing, request ids and baseline security headers, shared by the server and the tests. */
export function configureHttp(app: NestExpressApplication, config: AppConfig): void {
  app.set('trust proxy', 'loopback');
  app.disable('x-powered-by');
  answerClientErrors(app.getHttpServer());
  app.set('etag', false); // ETags are FHIR versions, set where a resource is served
  const audit = app.get(AuditEventRecorder, { strict: false });
  const metrics = app.get(Metrics, { strict: false });
  app.use((req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      audit.recordHttp(req, res);
      // The route pattern (not the URL) keeps the label set small.
      const route = (req.route as { path?: string } | undefined)?.path;
      metrics.httpRequestSeconds.observe({ method: req.method, route: route ? `${req.baseUrl}${route}` : 'unmatched', status: String(res.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    req.clientAddress = req.ip;
    res.setHeader('X-Request-Id', req.requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  if (config.corsOrigins.length) {
    app.enableCors({ origin: config.corsOrigins.includes('*') ? true : config.corsOrigins, exposedHeaders: ['Location', 'ETag', 'Last-Modified', 'X-Request-Id'] });
  }
  // Counted across the API processes in Redis (the timer stops when the app closes).
  const addresses = new SharedRateWindows(app.get<Redis>(REDIS), bullPrefix(config.queuePrefix), 'address', config.rateLimitPerMinute);
  app.getHttpServer().once('close', () => addresses.close());
  app.use(rateLimiter(config.rateLimitPerMinute, addresses));
  app.use(...fhirBodyParsers(config.maxBodyBytes));
  app.use(express.urlencoded({ extended: false, limit: '1mb', type: 'application/x-www-form-urlencoded' }));
  // Binary also takes its content as it is, in any other content type (binary.html): a Buffer for the controller.
  app.use('/fhir/Binary', express.raw({ type: (req) => isNativeBinaryBody(req as Request), limit: config.maxBodyBytes }));
  mountQueueDashboard(app);
}
