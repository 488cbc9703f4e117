import { OperationOutcomeError } from '../fhir/operation-outcome';

/** Deepest JSON nesting accepted; FHIR resources nest a few dozen levels at most. */
export const MAX_JSON_DEPTH = 100;

/**
 * Refuses JSON nested deeper than `max` before it is parsed (a "JSON bomb" of nested arrays would
 * otherwise exhaust the stack of every recursive walker after the parser). One pass over the text,
 * skipping strings. Throws a 400 OperationOutcome.
 */
export function assertJsonDepth(text: string, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) throw OperationOutcomeError.of(400, 'too-costly', `The JSON body is nested deeper than ${max} levels`);
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
}
