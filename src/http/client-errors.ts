import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { outcome } from '../fhir/operation-outcome';

/** What Node's HTTP parser refused, and what to say about it. */
function answerFor(code: string | undefined): { status: number; issue: 'too-long' | 'structure' | 'timeout'; diagnostics: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, issue: 'too-long', diagnostics: 'The request line and headers (the URL included) are larger than this server accepts; send long searches as POST [type]/_search' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, issue: 'timeout', diagnostics: 'The request did not arrive in time' };
    default:
      return { status: 400, issue: 'structure', diagnostics: 'The request is not well-formed HTTP (a URL must be percent-encoded ASCII)' };
  }
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (headers over the size limit,
 * raw non-ASCII bytes in the URL) are answered with an OperationOutcome too, as every 4xx of the
 * FHIR API is; Node's own answer is a bare status line.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, issue, diagnostics } = answerFor(err.code);
    const body = JSON.stringify(outcome([{ severity: 'error', code: issue, diagnostics }]));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
