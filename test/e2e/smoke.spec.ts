import request from 'supertest';
import { example, startTestApp, type TestApp } from '../helpers/test-app';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('creates and reads a Patient', async () => {
    const patient = example('Patient-example.json');
    const created = await request(t.app.getHttpServer())
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify(patient));
    expect(created.status).toBe(201);
    const id = created.body.id;
    const read = await request(t.app.getHttpServer()).get(`/fhir/Patient/${id}`).set('Authorization', `Bearer ${t.token}`);
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual(patient.name);
  });
});
