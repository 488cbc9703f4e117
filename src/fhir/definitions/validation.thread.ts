import { parentPort } from 'node:worker_threads';
import { OperationOutcomeError } from '../operation-outcome';
import { fhirResourceTypes, loadFhirDefinitions } from './fhir-definitions';
import { validateFhirResource } from './resource-validator';
import type { ThreadReply, ThreadRequest, ThreadResult } from './validation-pool';

/**
 * A validation thread of the ValidationPool: validates the resources it is sent, exactly as
 * validateFhirResource does in the request's thread, and answers each with nothing (valid), the
 * OperationOutcome of its 400, or the message of an unexpected error.
 */
loadFhirDefinitions();
// What the validator builds lazily (each type's parsed elements, the required bindings' value sets)
// is built now, so that the first bundle does not wait for it.
for (const type of fhirResourceTypes()) {
  try {
    validateFhirResource({ resourceType: type, id: 'warm-up', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' } }, type);
  } catch {
    // a minimal resource misses required elements of some types: only the work done counts
  }
}
const port = parentPort;
if (!port) throw new Error('validation.thread runs as a worker thread of the ValidationPool');
port.on('message', ({ id, items }: ThreadRequest) => {
  const results = items.map(({ resource, type }): ThreadResult => {
    try {
      validateFhirResource(resource, type);
      return null;
    } catch (e) {
      if (e instanceof OperationOutcomeError) return { status: e.status, outcome: e.outcome };
      return { error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
  });
  port.postMessage({ id, results } satisfies ThreadReply);
});
port.postMessage({ ready: true });
