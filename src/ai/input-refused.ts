/**
 * An input a plugin refuses and that no retry can change (empty text, text in another language,
 * too few known words): the job fails at once with this reason instead of being retried.
 */
export class InputRefusedError extends Error {
  override readonly name = 'InputRefusedError';
}
