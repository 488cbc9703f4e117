import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../core/tokens';
import { OperationOutcomeError } from '../operation-outcome';
import { validateFhirResource } from './resource-validator';

export interface ValidationItem {
  resource: unknown;
  /** The resource type the resource must have. */
  type: string;
}
/** What a thread answers per item: null (valid), a 400's outcome, or an unexpected error. */
export type ThreadResult = null | { status: number; outcome: OperationOutcome } | { error: string };
export interface ThreadRequest {
  id: number;
  items: ValidationItem[];
}
export interface ThreadReply {
  id: number;
  results: ThreadResult[];
}

/** Fewer items than this are validated in the caller's thread: a round trip to a thread costs more. */
const MIN_ITEMS_FOR_THREADS = 8;
/** Items per message: small enough that several threads share a bundle and results come back as they are done. */
const SLICE = 32;

interface Pending {
  resolve: (results: ThreadResult[]) => void;
  reject: (err: Error) => void;
  size: number;
}

class ValidationThread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** Resolves once the thread has loaded and warmed up the definitions; rejects if it dies first. */
  readonly ready: Promise<void>;
  load = 0;

  constructor(file: string, onExit: (thread: ValidationThread) => void) {
    // Under ts-jest there is no compiled thread: the .ts source is transpiled as it is required.
    this.worker = file.endsWith('.ts')
      ? new Worker(TS_LOADER, { eval: true, workerData: { file } })
      : new Worker(file);
    this.worker.unref();
    let started: () => void = () => undefined;
    let failed: (err: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.ready.catch(() => undefined); // awaited only at start-up
    this.worker.on('message', (m: ThreadReply | { ready: true }) => {
      if (!('id' in m)) return started();
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.load -= p.size;
      p.resolve(m.results);
    });
    const fail = (err: Error) => {
      failed(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.load = 0;
      onExit(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`validation thread exited with code ${code}`)));
  }

  send(id: number, items: ValidationItem[]): Promise<ThreadResult[]> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, size: items.length });
      this.load += items.length;
      this.worker.postMessage({ id, items } satisfies ThreadRequest);
    });
  }
}

/**
 * Validation of many resources at once (the entries of a Bundle) on worker threads, so that the
 * event loop goes on serving requests and database round trips meanwhile: validation against the
 * structure definitions is the largest CPU cost of a write. The threads run the same
 * validateFhirResource as the caller's thread would, and are started on first use, replaced if one
 * dies (its items fail with a 500, never pass unvalidated). The API starts them before it listens
 * (start). VALIDATION_THREADS=0, or fewer than MIN_ITEMS_FOR_THREADS items, validates in the
 * caller's thread.
 */
@Injectable()
export class ValidationPool implements OnApplicationShutdown {
  private readonly threads: ValidationThread[] = [];
  private readonly file: string;
  private nextId = 1;
  private closed = false;

  constructor(@Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'validationThreads'>) {
    const compiled = join(__dirname, 'validation.thread.js');
    this.file = existsSync(compiled) ? compiled : join(__dirname, 'validation.thread.ts');
  }

  /** Per item, in order: undefined when valid, else the 400 OperationOutcomeError validateFhirResource throws. */
  async validateMany(items: ValidationItem[]): Promise<Array<OperationOutcomeError | undefined>> {
    if (this.config.validationThreads === 0 || items.length < MIN_ITEMS_FOR_THREADS || this.closed) return items.map(validateHere);
    const slices: Array<Promise<ThreadResult[]>> = [];
    for (let i = 0; i < items.length; i += SLICE) slices.push(this.leastLoaded().send(this.nextId++, items.slice(i, i + SLICE)));
    const results = (await Promise.all(slices)).flat();
    return results.map((r) => {
      if (r === null) return undefined;
      if ('error' in r) throw new Error(`validation failed unexpectedly: ${r.error}`);
      return new OperationOutcomeError(r.status, r.outcome);
    });
  }

  /**
   * Starts the threads and resolves once they have loaded and warmed up the definitions. The API
   * process calls it before it listens, so that the first bundle does not wait for them; elsewhere
   * (workers, which take no bundles; tests) they start on first use.
   */
  async start(): Promise<void> {
    while (this.threads.length < this.config.validationThreads) this.spawn();
    await Promise.all(this.threads.map((t) => t.ready));
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.splice(0).map((t) => t.worker.terminate()));
  }

  private leastLoaded(): ValidationThread {
    if (this.threads.length < this.config.validationThreads) return this.spawn();
    return this.threads.reduce((a, b) => (b.load < a.load ? b : a));
  }

  private spawn(): ValidationThread {
    const thread = new ValidationThread(this.file, (t) => {
      const i = this.threads.indexOf(t);
      if (i >= 0) this.threads.splice(i, 1);
    });
    this.threads.push(thread);
    return thread;
  }
}

function validateHere(item: ValidationItem): OperationOutcomeError | undefined {
  try {
    validateFhirResource(item.resource, item.type);
    return undefined;
  } catch (e) {
    if (e instanceof OperationOutcomeError) return e;
    throw e;
  }
}

/** Requires a .ts file in a worker thread, transpiling each project .ts module as it loads (tests only). */
const TS_LOADER = `
const fs = require('node:fs');
const ts = require('typescript');
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, experimentalDecorators: true },
  });
  module._compile(out.outputText, filename);
};
require(require('node:worker_threads').workerData.file);
`;
