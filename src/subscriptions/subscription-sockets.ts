import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Subscription } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { WebSocketServer, WebSocket } from 'ws';
import { AccessPolicy } from '../auth/access/access-policy';
import type { AuthContext } from '../auth/auth.types';
import { TokenCheck } from '../auth/token-check.service';
import { InvalidTokenError } from '../auth/token.service';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { isLiveWebsocket } from './subscription-channel';
import { websocketChannel, type SubscriptionNotification } from './subscription-notification';

/** Where websocket clients connect (advertised in the CapabilityStatement). */
export const WEBSOCKET_PATH = '/fhir/websocket';
const MAX_BINDINGS_PER_SOCKET = 100;
/** How often every open socket's token, and every bound Subscription, is checked again. */
export const SOCKET_RECHECK_MS = 1000;
/** Close codes: the token is no longer accepted (policy violation); it could not be checked. */
export const CLOSE_TOKEN_REFUSED = 1008;
export const CLOSE_CHECK_FAILED = 1011;

/** The one answer to a `bind` that is not granted, whatever the reason: it tells nothing about the id. */
export const bindRefusal = (id: string): string => `error ${id} cannot bind: no active websocket Subscription with this id that this token may read`;

interface Client {
  token: string;
  auth: AuthContext;
  bindings: Set<string>;
  /** Re-checks in a row that could not be made (the database unreachable): the socket is closed after CHECK_FAILURES_TOLERATED. */
  failedChecks?: number;
}

/** A database hiccup (a failover) must not close every socket of the process at once: about this many seconds of failed re-checks are borne. */
const CHECK_FAILURES_TOLERATED = 10;

/**
 * The R4 websocket channel: a client connects to /fhir/websocket with its bearer token (the
 * Authorization header, or `access_token` in the query for browsers), sends `bind <id>` for each
 * websocket Subscription it may read (as for GET /fhir/Subscription/<id>: administrators), is
 * answered `bound <id>`, and then receives `ping <id>` whenever a change matches. Every second the
 * token of each socket is checked again as the REST guard checks it (TokenCheck: expiry,
 * revocation, rotation), the socket closed when it fails, and each bound Subscription read again:
 * a binding ends (`unbound <id>`) once its Subscription is deleted, off, in error or ended.
 * Workers publish notifications on Redis; every API process forwards them to the sockets bound here.
 */
@Injectable()
export class SubscriptionSockets implements OnApplicationBootstrap, OnApplicationShutdown {
  private wss?: WebSocketServer;
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;
  private checking = false;
  private readonly clients = new Map<WebSocket, Client>();
  private readonly bound = new Map<string, Set<WebSocket>>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly tokens: TokenCheck,
    private readonly access: AccessPolicy,
    private readonly store: ResourceStore,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as import('node:http').Server | undefined;
    if (!server) return;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((e: unknown) => {
        this.logger.warn({ err: e }, 'websocket upgrade failed');
        socket.destroy();
      });
    });
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => this.forward(message));
    // Not awaited: while Redis is down the API must still start; ioredis subscribes once it connects.
    this.subscriber.subscribe(websocketChannel(bullPrefix(this.config.queuePrefix))).catch((e: unknown) => this.logger.warn({ err: e }, 'websocket notifications: could not subscribe'));
    this.timer = setInterval(() => void this.recheck(), SOCKET_RECHECK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    this.subscriber?.disconnect();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WEBSOCKET_PATH || !this.wss) return void socket.destroy();
    const header = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = header ?? url.searchParams.get('access_token') ?? '';
    let auth: AuthContext;
    try {
      auth = await this.tokens.check(token);
    } catch (e) {
      if (!(e instanceof InvalidTokenError)) throw e;
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nA valid bearer token is required\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, { token, auth, bindings: new Set() }));
  }

  private serve(ws: WebSocket, client: Client): void {
    this.clients.set(ws, client);
    ws.on('message', (data) => {
      const m = /^bind\s+([A-Za-z0-9\-.]{1,64})\s*$/.exec(data.toString());
      if (!m) return void ws.send('error unknown command: send "bind <Subscription id>"');
      this.bind(m[1], ws, client).catch((e: unknown) => {
        this.logger.warn({ err: e }, 'websocket bind failed');
        this.close(ws, CLOSE_CHECK_FAILED, 'the binding could not be checked');
      });
    });
    ws.on('close', () => this.drop(ws));
  }

  /** Binds when the token may read the Subscription and it is a live websocket one; otherwise one refusal for every reason. */
  private async bind(id: string, ws: WebSocket, client: Client): Promise<void> {
    if (!(await this.stillValid(ws, client))) {
      // Still open: the token could not be checked just now (not refused).
      if (ws.readyState === WebSocket.OPEN) ws.send(`error ${id} cannot bind now: the token could not be checked, try again`);
      return;
    }
    if (!this.access.allows(client.auth, 'Subscription', 'r')) return void ws.send(bindRefusal(id));
    if (client.bindings.size >= MAX_BINDINGS_PER_SOCKET) return void ws.send(`error ${id} too many bindings on one socket`);
    const current = await this.store.readCurrent('Subscription', id);
    const sub = current?.json && !current.deleted && this.access.isVisible(client.auth, current) ? (JSON.parse(current.json) as Subscription) : undefined;
    if (!sub || !isLiveWebsocket(sub, Date.now())) return void ws.send(bindRefusal(id));
    if (!this.clients.has(ws)) return; // closed meanwhile
    client.bindings.add(id);
    this.bound.set(id, (this.bound.get(id) ?? new Set()).add(ws));
    ws.send(`bound ${id}`);
  }

  /** Every socket's token and every bound Subscription, again; one pass at a time. */
  private async recheck(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await Promise.all([...this.clients].map(([ws, client]) => this.stillValid(ws, client)));
      await this.recheckBindings();
    } catch (e) {
      this.logger.warn({ err: e }, 'websocket bindings: could not re-check');
    } finally {
      this.checking = false;
    }
  }

  /** Whether the socket's token is still accepted; closes the socket when it is not. */
  private async stillValid(ws: WebSocket, client: Client): Promise<boolean> {
    try {
      await this.tokens.check(client.token);
      client.failedChecks = 0;
      return this.clients.has(ws);
    } catch (e) {
      if (e instanceof InvalidTokenError) this.close(ws, CLOSE_TOKEN_REFUSED, `Invalid bearer token: ${e.message}`);
      else if ((client.failedChecks = (client.failedChecks ?? 0) + 1) >= CHECK_FAILURES_TOLERATED) this.close(ws, CLOSE_CHECK_FAILED, 'the token could not be checked');
      return false;
    }
  }

  /** Ends the bindings whose Subscription is gone, no longer active, not websocket or past its end. */
  private async recheckBindings(): Promise<void> {
    const ids = [...this.bound.keys()];
    if (!ids.length) return;
    const found = await this.store.readCurrentMany(ids.map((id) => ({ resourceType: 'Subscription', id })));
    const now = Date.now();
    for (const id of ids) {
      const v = found.get(`Subscription/${id}`);
      if (v?.json && !v.deleted && isLiveWebsocket(JSON.parse(v.json) as Subscription, now)) continue;
      for (const ws of this.bound.get(id) ?? []) {
        this.clients.get(ws)?.bindings.delete(id);
        if (ws.readyState === WebSocket.OPEN) ws.send(`unbound ${id}`);
      }
      this.bound.delete(id);
    }
  }

  private close(ws: WebSocket, code: number, reason: string): void {
    this.drop(ws);
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
  }

  /** Forgets a socket at once: nothing more is forwarded to it. */
  private drop(ws: WebSocket): void {
    const client = this.clients.get(ws);
    this.clients.delete(ws);
    for (const id of client?.bindings ?? []) {
      const sockets = this.bound.get(id);
      sockets?.delete(ws);
      if (sockets && !sockets.size) this.bound.delete(id);
    }
  }

  private forward(message: string): void {
    let n: SubscriptionNotification;
    try {
      n = JSON.parse(message) as SubscriptionNotification;
    } catch {
      return;
    }
    for (const ws of this.bound.get(n.subscriptionId) ?? []) {
      if (ws.readyState === WebSocket.OPEN) ws.send(`ping ${n.subscriptionId}`);
    }
  }
}
