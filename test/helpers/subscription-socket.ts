import WebSocket from 'ws';
import type { TestApp } from './test-app';
import { waitFor } from './wait-for';

/** A client of the R4 websocket channel (/fhir/websocket) that keeps what it receives and how it ended. */
export interface SubscriptionSocket {
  ws: WebSocket;
  messages: string[];
  /** Set once the server closed the socket. */
  closed?: { code: number; reason: string };
  send(text: string): void;
  /** Waits for a message (exact text). */
  next(message: string, timeoutMs?: number): Promise<void>;
  /** Sends `bind <id>` and resolves to the server's answer about that id (`bound <id>` or `error <id> ...`). */
  bind(id: string): Promise<string>;
  close(): void;
}

export const websocketUrl = (t: TestApp): string => `${t.baseUrl.replace(/^http/, 'ws')}/fhir/websocket`;

/** Connects with a bearer token (Authorization header); rejects when the upgrade is refused. */
export async function openSubscriptionSocket(t: TestApp, token: string): Promise<SubscriptionSocket> {
  const ws = new WebSocket(websocketUrl(t), { headers: { Authorization: `Bearer ${token}` } });
  const socket: SubscriptionSocket = {
    ws,
    messages: [],
    send: (text) => ws.send(text),
    next: (message, timeoutMs = 15000) => waitFor(`"${message}"`, async () => socket.messages.includes(message), timeoutMs, 50).then(() => undefined),
    bind: async (id) => {
      const seen = socket.messages.length;
      ws.send(`bind ${id}`);
      return waitFor(`the answer to bind ${id}`, async () => socket.messages.slice(seen).find((m) => m === `bound ${id}` || m.startsWith(`error ${id} `)), 10000, 50);
    },
    close: () => ws.close(),
  };
  ws.on('message', (d) => socket.messages.push(d.toString()));
  ws.on('close', (code, reason) => (socket.closed = { code, reason: reason.toString() }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return socket;
}
