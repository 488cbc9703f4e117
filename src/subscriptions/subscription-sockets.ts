import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Subscription } from '@medplum/fhirtypes';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { TokenService } from '../auth/token.service';
import type { AppConfig } from '../config/app-config';
import { LOGGER } from '../core/core.module';
import { APP_CONFIG } from '../core/tokens';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { REDIS, bullPrefix } from '../queue/redis.provider';
import { websocketChannel, type SubscriptionNotification } from './subscription-notification';

/** Where websocket clients connect (advertised in the CapabilityStatement). */
export const WEBSOCKET_PATH = '/fhir/websocket';
const MAX_BINDINGS_PER_SOCKET = 100;

/**
 * The R4 websocket channel: a client connects to /fhir/websocket with its bearer token (the
 * Authorization header, or `access_token` in the query for browsers), sends `bind <id>` for each
 * of its websocket Subscriptions, is answered `bound <id>`, and then receives `ping <id>` whenever
 * a change matches. Workers publish notifications on Redis; every API process forwards them to
 * the sockets bound here.
 */
@Injectable()
export class SubscriptionSockets implements OnApplicationBootstrap, OnApplicationShutdown {
  private wss?: WebSocketServer;
  private subscriber?: Redis;
  private readonly bound = new Map<string, Set<WebSocket>>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly tokens: TokenService,
    private readonly store: ResourceStore,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as import('node:http').Server | undefined;
    if (!server) return;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
    this.subscriber = this.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, message: string) => this.forward(message));
    // Not awaited: while Redis is down the API must still start; ioredis subscribes once it connects.
    this.subscriber.subscribe(websocketChannel(bullPrefix(this.config.queuePrefix))).catch((e: unknown) => this.logger.warn({ err: e }, 'websocket notifications: could not subscribe'));
  }

  async onApplicationShutdown(): Promise<void> {
    for (const client of this.wss?.clients ?? []) client.terminate();
    this.wss?.close();
    this.subscriber?.disconnect();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WEBSOCKET_PATH || !this.wss) return void socket.destroy();
    const header = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = header ?? url.searchParams.get('access_token') ?? '';
    const auth = await this.tokens.verify(token).catch(() => undefined);
    if (!auth) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nA bearer token is required\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws));
  }

  private serve(ws: WebSocket): void {
    const mine = new Set<string>();
    ws.on('message', (data) => {
      const m = /^bind\s+([A-Za-z0-9\-.]{1,64})\s*$/.exec(data.toString());
      if (!m) return void ws.send('error unknown command: send "bind <Subscription id>"');
      void this.bind(m[1], ws, mine);
    });
    ws.on('close', () => {
      for (const id of mine) this.bound.get(id)?.delete(ws);
    });
  }

  private async bind(id: string, ws: WebSocket, mine: Set<string>): Promise<void> {
    const current = await this.store.readCurrent('Subscription', id);
    const sub = current?.json && !current.deleted ? (JSON.parse(current.json) as Subscription) : undefined;
    if (!sub) return void ws.send(`error ${id} no such Subscription`);
    if (sub.channel?.type !== 'websocket') return void ws.send(`error ${id} is not a websocket Subscription`);
    if (sub.status !== 'active') return void ws.send(`error ${id} is ${sub.status}`);
    if (mine.size >= MAX_BINDINGS_PER_SOCKET) return void ws.send(`error ${id} too many bindings on one socket`);
    mine.add(id);
    this.bound.set(id, (this.bound.get(id) ?? new Set()).add(ws));
    ws.send(`bound ${id}`);
  }

  private forward(message: string): void {
    let n: SubscriptionNotification;
    try {
      n = JSON.parse(message) as SubscriptionNotification;
    } catch {
      return;
    }
    for (const ws of this.bound.get(n.subscriptionId) ?? []) ws.send(`ping ${n.subscriptionId}`);
  }
}
