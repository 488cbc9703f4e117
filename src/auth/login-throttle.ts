/** Past this many client ids tracked, expired entries are swept (and, if still full, the oldest go). */
const MAX_TRACKED = 10_000;

interface Entry {
  failures: number;
  /** When the counting window (or the lockout) ends, ms since the epoch. */
  until: number;
}

/**
 * Failed sign-ins per client id, in this process's memory: after `maxFailures` failures within
 * `windowMs`, the client id is locked out until the window ends (each further attempt is refused
 * unchecked). Guessing a secret then takes years; a success clears the count. This process's own
 * count: ClientLogin also counts in Redis for all processes (SharedLoginThrottle), and this one
 * decides alone while Redis does not answer. Pure apart from the clock passed in.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds until the client id may try again, or 0 when it may now. */
  retryAfter(clientId: string, now = Date.now()): number {
    if (this.maxFailures <= 0) return 0;
    const e = this.entries.get(clientId);
    if (!e || e.until <= now) return 0;
    return e.failures >= this.maxFailures ? Math.ceil((e.until - now) / 1000) : 0;
  }

  failed(clientId: string, now = Date.now()): void {
    if (this.maxFailures <= 0) return;
    const e = this.entries.get(clientId);
    if (!e || e.until <= now) {
      this.sweep(now);
      this.entries.set(clientId, { failures: 1, until: now + this.windowMs });
      return;
    }
    e.failures++;
    // The lockout runs its full length from the failure that starts it.
    if (e.failures === this.maxFailures) e.until = now + this.windowMs;
  }

  succeeded(clientId: string): void {
    this.entries.delete(clientId);
  }

  private sweep(now: number): void {
    if (this.entries.size < MAX_TRACKED) return;
    for (const [k, e] of this.entries) if (e.until <= now) this.entries.delete(k);
    // Still full (a flood of distinct ids): forget the oldest rather than grow without bound.
    for (const k of this.entries.keys()) {
      if (this.entries.size < MAX_TRACKED) break;
      this.entries.delete(k);
    }
  }
}
