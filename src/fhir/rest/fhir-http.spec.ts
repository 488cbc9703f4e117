import type { Request } from 'express';
import { negotiate, responseType } from './fhir-http';

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

  it('reads a space in _format as the + an unencoded URL turned into one', () => {
    expect(negotiate(request({ _format: 'application/fhir json' }, undefined).req)).toBe('json');
    expect(negotiate(request({ _format: 'application/fhir xml' }, undefined).req)).toBe('xml');
    expect(() => negotiate(request({ _format: 'application/fhir yaml' }, undefined).req)).toThrow(expect.objectContaining({ status: 406 }));
  });

  it('answers with the generic type the client named (application/json, application/xml), else the FHIR type', () => {
    const cases: Array<[Record<string, string>, string | undefined, string | false, string]> = [
      [{}, 'application/json', false, 'application/json; charset=utf-8'],
      [{}, 'application/xml', false, 'application/xml; charset=utf-8'],
      [{}, 'application/json, text/html;q=0.5', 'application/json', 'application/json; charset=utf-8'],
      [{ _format: 'application/xml' }, 'application/fhir+json', false, 'application/xml; charset=utf-8'],
      [{ _format: 'xml' }, undefined, false, 'application/fhir+xml; charset=utf-8'],
      [{}, 'application/fhir+json', false, 'application/fhir+json; charset=utf-8'],
      [{}, '*/*', false, 'application/fhir+json; charset=utf-8'],
      [{}, undefined, false, 'application/fhir+json; charset=utf-8'],
    ];
    for (const [query, accept, best, type] of cases) {
      const { req } = request(query, accept, best);
      negotiate(req);
      expect(responseType(req)).toBe(type);
    }
  });
});
