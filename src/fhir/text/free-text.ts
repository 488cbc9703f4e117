import type { Communication, QuestionnaireResponse, QuestionnaireResponseItem, Resource } from '@medplum/fhirtypes';

/**
 * The free text a sentiment model reads: a feedback form's `comments` answer (QuestionnaireResponse,
 * nested items included) or a therapy session's message (Communication.payload.contentString).
 * Undefined when the resource carries none. Pure.
 */
export function freeTextOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'QuestionnaireResponse') {
    const texts: string[] = [];
    const walk = (items: QuestionnaireResponseItem[] | undefined) => {
      for (const item of items ?? []) {
        if (item.linkId === 'comments') for (const a of item.answer ?? []) if (typeof a.valueString === 'string') texts.push(a.valueString);
        walk(item.item);
        for (const a of item.answer ?? []) walk(a.item);
      }
    };
    walk((resource as QuestionnaireResponse).item);
    return texts.length ? texts.join('\n') : undefined;
  }
  if (resource.resourceType === 'Communication') {
    const texts = ((resource as Communication).payload ?? []).map((p) => p.contentString).filter((t): t is string => typeof t === 'string');
    return texts.length ? texts.join('\n') : undefined;
  }
  return undefined;
}

/** The rating (1..5) of a feedback form, if it has one. */
export function ratingOf(resource: Resource): number | undefined {
  if (resource.resourceType !== 'QuestionnaireResponse') return undefined;
  for (const item of (resource as QuestionnaireResponse).item ?? []) {
    if (item.linkId === 'rating') for (const a of item.answer ?? []) if (typeof a.valueInteger === 'number') return a.valueInteger;
  }
  return undefined;
}
