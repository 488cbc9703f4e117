import type { Request } from 'express';
import { negotiate } from './fhir-http';

/** A request with the given query and Accept header; `accepts` records that full negotiation ran. */
function request(query: Record<string, string>, accept: string | undefined, best: string | false = false) {
  const calls: string[][] = [];
  const req = {
    query,
    headers: accept === undefined ? {} : { accept },
    accepts: (types: string[]) => {
      calls.push(types);
      return best;
    },
  } as unknown as Request;
  return { req, calls };
}

describe('negotiate', () => {
  it('answers an Accept that names one format outright without parsing it', () => {
    for (const [accept, format] of [
      ['application/fhir+json', 'json'],
      ['application/json', 'json'],
      ['*/*', 'json'],
      ['application/fhir+xml', 'xml'],
      ['text/xml', 'xml'],
    ] as const) {
      const { req, calls } = request({}, accept);
      expect(negotiate(req)).toBe(format);
      expect(req.fhirFormat).toBe(format);
      expect(calls).toHaveLength(0);
    }
  });

  it('negotiates any other Accept (lists, quality values), and refuses what it cannot produce with 406', () => {
    const xml = request({}, 'application/fhir+xml;q=0.9, text/html', 'application/fhir+xml');
    expect(negotiate(xml.req)).toBe('xml');
    expect(xml.calls).toHaveLength(1);
    const none = request({}, 'text/html', false);
    expect(() => negotiate(none.req)).toThrow(expect.objectContaining({ status: 406 }));
  });

  it('lets _format win over Accept, and defaults to JSON without either', () => {
    expect(negotiate(request({ _format: 'xml' }, 'application/fhir+json').req)).toBe('xml');
    expect(negotiate(request({}, undefined).req)).toBe('json');
    expect(() => negotiate(request({ _format: 'yaml' }, undefined).req)).toThrow(expect.objectContaining({ status: 406 }));
  });
});
