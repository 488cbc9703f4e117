import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateFhirResource } from '../fhir/definitions/resource-validator';
import type { ModelManifest } from './model-manifest';
import { MODEL_LIFECYCLE_SYSTEM, deviceOf, modelId } from './model-device';

const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../models/cad-cleveland/manifest.json'), 'utf8')) as ModelManifest;

describe('deviceOf', () => {
  it.each([
    ['active', 'active'],
    ['candidate', 'inactive'],
    ['shadow', 'inactive'],
    ['retired', 'inactive'],
  ])('describes a %s version as Device.status %s, with the lifecycle status as a property', (lifecycle, status) => {
    const d = deviceOf('cad-cleveland-1.0.0', manifest, 'ab'.repeat(32), lifecycle);
    expect(d.status).toBe(status);
    expect(d.property?.[0].valueCode?.[0].coding).toEqual([{ system: MODEL_LIFECYCLE_SYSTEM, code: lifecycle }]);
  });

  it('names the condition served and the numeric metrics', () => {
    const d = deviceOf('cad-cleveland-1.0.0', manifest, 'ab'.repeat(32), 'active');
    expect(d.property?.[1].valueCode?.[0].coding?.[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '53741008' });
    expect(d.property).toEqual(expect.arrayContaining([{ type: { text: 'auc' }, valueQuantity: [{ value: 0.9227 }] }]));
    expect(d.property?.some((p) => p.type.text === 'confusion')).toBe(false);
  });

  it('is a valid R4 Device', () => {
    expect(() => validateFhirResource(deviceOf(modelId(manifest), manifest, 'ab'.repeat(32), 'shadow'), 'Device')).not.toThrow();
  });
});
