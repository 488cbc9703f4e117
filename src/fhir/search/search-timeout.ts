import { OperationOutcomeError } from '../operation-outcome';

/** Whether a statement was cancelled by statement_timeout (SQLSTATE 57014): SEARCH_TIMEOUT_MS ran out. */
export function timedOut(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === '57014';
}

/** A 400 too-costly, so that clients change the search instead of retrying it unchanged. */
export const tooCostly = (ms: number) =>
  OperationOutcomeError.of(
    400,
    'too-costly',
    `The search took longer than this server allows (${ms} ms) and was stopped. Narrow it: fewer chain levels or _has, a more selective value, another parameter that limits the resources searched, or _total=none.`,
  );
