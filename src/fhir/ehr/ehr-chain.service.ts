import { Injectable } from '@nestjs/common';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { CompactSign, compactVerify } from 'jose';
import { SigningKeyService, TOKEN_ALG } from '../../auth/signing-key.service';
import { badRequest } from '../operation-outcome';
import { verifyChain, verifyDocuments } from './ehr-chain';
import { EhrChainRepository } from './ehr-chain.repository';

interface Checkpoint {
  patient: string;
  seq: number;
  hash: string;
  at: string;
}

/**
 * $verify-ehr-chain and the signed checkpoints of chain heads. A checkpoint is a JWS signed with
 * the server's token key (verifiable with /.well-known/jwks.json) naming a patient, a sequence
 * number and the hash there; presented later, it proves the chain still holds that record, which
 * also catches records cut off the end of a chain.
 */
@Injectable()
export class EhrChainService {
  constructor(
    private readonly repo: EhrChainRepository,
    private readonly keys: SigningKeyService,
  ) {}

  async verifyPatient(patientId: string, checkpoint?: string): Promise<Parameters> {
    const chain = await this.repo.chain(patientId);
    let verdict = verifyChain(chain);
    if (verdict.valid) {
      // The chain holds only its own copies: the documents the API serves are checked against it too.
      const documents = await this.repo.currentDocuments(patientId);
      const present = new Set(documents.map((d) => `${d.resourceType}/${d.id}`));
      const missing = [...new Set(chain.map((r) => `${r.recordType}/${r.resourceId}`))].filter((k) => !present.has(k));
      const problem = verifyDocuments(chain, documents, await this.repo.storedElsewhere(patientId, missing));
      if (problem) verdict = { valid: false, records: chain.length, ...problem };
    }
    const params: ParametersParameter[] = [
      { name: 'valid', valueBoolean: verdict.valid },
      { name: 'records', valueInteger: verdict.records },
    ];
    if (!verdict.valid) {
      params.push({ name: 'brokenAt', valueString: verdict.brokenAt }, { name: 'reason', valueString: verdict.reason });
      params.push({ name: 'patient', valueReference: { reference: `Patient/${patientId}` } });
      return { resourceType: 'Parameters', parameter: params };
    }
    if (checkpoint) {
      const cp = await this.readCheckpoint(checkpoint);
      if (cp.patient !== `Patient/${patientId}`) throw badRequest(`The checkpoint is for ${cp.patient}, not Patient/${patientId}`);
      const record = chain[cp.seq - 1];
      if (!record || record.hash !== cp.hash) {
        params[0] = { name: 'valid', valueBoolean: false };
        params.push(
          { name: 'brokenAt', valueString: record?.id ?? `seq ${cp.seq}` },
          { name: 'reason', valueString: record ? `record ${cp.seq} differs from the checkpoint of ${cp.at}` : `the chain ends before record ${cp.seq}, which the checkpoint of ${cp.at} holds: records were removed` },
        );
      }
    }
    return { resourceType: 'Parameters', parameter: params };
  }

  /** Every patient's chain; the first broken one is reported. */
  async verifyAll(): Promise<Parameters> {
    let records = 0;
    const patients = await this.repo.patients();
    for (const patientId of patients) {
      const result = await this.verifyPatient(patientId);
      const valid = result.parameter?.find((p) => p.name === 'valid')?.valueBoolean;
      records += result.parameter?.find((p) => p.name === 'records')?.valueInteger ?? 0;
      if (!valid) return result;
    }
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'valid', valueBoolean: true },
        { name: 'records', valueInteger: records },
        { name: 'patients', valueInteger: patients.length },
      ],
    };
  }

  /** A signed checkpoint of the patient's chain head. */
  async checkpoint(patientId: string): Promise<Parameters> {
    const head = (await this.repo.head(patientId)) ?? { seq: 0, hash: '' };
    const body: Checkpoint = { patient: `Patient/${patientId}`, seq: head.seq, hash: head.hash, at: new Date().toISOString() };
    const { kid, key } = this.keys.signingKey();
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: TOKEN_ALG, kid, typ: 'ehr-chain-checkpoint' }).sign(key);
    return {
      resourceType: 'Parameters',
      parameter: [
        { name: 'checkpoint', valueString: jws },
        { name: 'seq', valueInteger: head.seq },
        { name: 'hash', valueString: head.hash },
      ],
    };
  }

  private async readCheckpoint(jws: string): Promise<Checkpoint> {
    try {
      const { payload } = await compactVerify(jws, async (header) => {
        const key = this.keys.verificationKey(header.kid);
        if (!key) throw new Error('unknown key');
        return key;
      });
      const cp = JSON.parse(new TextDecoder().decode(payload)) as Checkpoint;
      if (typeof cp.patient !== 'string' || typeof cp.seq !== 'number' || typeof cp.hash !== 'string') throw new Error('malformed');
      return cp;
    } catch {
      throw badRequest('The checkpoint is not a valid checkpoint signed by this server');
    }
  }
}
