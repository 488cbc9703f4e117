import { Injectable } from '@nestjs/common';
import type { Provenance, Resource, RiskAssessment, Task } from '@medplum/fhirtypes';
import { RECOMMENDATION_CODE } from '../ai/recommendation-rules';
import { DatabaseService } from '../database/database.service';
import { localRefId } from '../fhir/projection/mappers/mapper-utils';
import { SearchService } from '../fhir/search/search.service';
import { ResourceStore, type StoredVersion } from '../fhir/store/resource-store.repository';
import { isRecommendation, recommendationView, type ModelInfo, type RecommendationView } from './recommendation-view';

/** The FHIR search that finds recommendations (the same one a FHIR client can run on /fhir/Task). */
export const RECOMMENDATION_CRITERIA: [string, string] = ['code', `${RECOMMENDATION_CODE.system}|${RECOMMENDATION_CODE.code}`];

const LOCAL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

export interface TaskPage {
  tasks: Task[];
  total?: number;
  /** The cursor of the next page, when there is one. */
  next?: string;
}

/**
 * Reads recommendations (Tasks) and what their views need, in a few batched round trips: the
 * RiskAssessments they are about, the inputs those name, their Provenance, and the registry's
 * record of each model version.
 */
@Injectable()
export class RecommendationReader {
  constructor(
    private readonly store: ResourceStore,
    private readonly search: SearchService,
    private readonly db: DatabaseService,
  ) {}

  /** The current Task of a recommendation with its version, or undefined (missing, deleted, or not a recommendation). */
  async readTask(id: string): Promise<{ task: Task; versionId: number } | undefined> {
    const current = await this.store.readCurrent('Task', id);
    if (!current || current.deleted || !current.json) return undefined;
    const task = JSON.parse(current.json) as Resource;
    return isRecommendation(task) ? { task, versionId: current.versionId } : undefined;
  }

  /** A page of recommendation Tasks matching further FHIR search parameters, newest first. */
  async page(params: Array<[string, string]>, count: number, cursor?: string): Promise<TaskPage> {
    const bundle = await this.search.search({
      resourceType: 'Task',
      // The listing states its total on every page, not only the first (a FHIR search's later pages leave it out).
      params: [RECOMMENDATION_CRITERIA, ...params, ['_sort', '-authored-on'], ['_count', String(count)], ['_total', 'accurate'], ...(cursor ? [['_cursor', cursor] as [string, string]] : [])],
      strict: true,
      canRead: () => true,
      hiddenTypes: [],
      base: 'http://recommendations.invalid',
    });
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    return {
      tasks: (bundle.entry ?? []).map((e) => e.resource).filter(isRecommendation),
      total: bundle.total,
      next: next ? (new URL(next).searchParams.get('_cursor') ?? undefined) : undefined,
    };
  }

  /** `canRead` says which input types the caller may read: the others are named, their content not read. */
  async views(tasks: Task[], canRead: (resourceType: string) => boolean = () => true): Promise<RecommendationView[]> {
    if (!tasks.length) return [];
    const raIds = [...new Set(tasks.map((t) => localRefId(t.reasonReference, 'RiskAssessment')).filter((id): id is string => !!id))];
    const ras = await this.readMany(raIds.map((id) => ({ resourceType: 'RiskAssessment', id })));
    const basisKeys = [...ras.values()]
      .flatMap((ra) => (ra as RiskAssessment).basis ?? [])
      .map((b) => LOCAL.exec(b.reference ?? ''))
      // Patients are encrypted and their demographics are named, not shown.
      .filter((m): m is RegExpExecArray => !!m && m[1] !== 'Patient' && canRead(m[1]))
      .map((m) => ({ resourceType: m[1], id: m[2] }));
    const [basis, models, provenance] = await Promise.all([
      this.readMany(basisKeys),
      this.models(tasks.map((t) => localRefId(t.requester, 'Device')).filter((id): id is string => !!id)),
      this.provenanceOf(raIds),
    ]);
    return tasks.map((task) => {
      const raId = localRefId(task.reasonReference, 'RiskAssessment');
      const deviceId = localRefId(task.requester, 'Device');
      return recommendationView({
        task,
        riskAssessment: raId ? (ras.get(`RiskAssessment/${raId}`) as RiskAssessment | undefined) : undefined,
        model: deviceId ? models.get(deviceId) : undefined,
        provenance: raId ? provenance.get(`RiskAssessment/${raId}`) : undefined,
        basis,
      });
    });
  }

  private async readMany(keys: Array<{ resourceType: string; id: string }>): Promise<Map<string, Resource>> {
    const unique = [...new Map(keys.map((k) => [`${k.resourceType}/${k.id}`, k])).values()];
    const found = await this.store.readCurrentMany(unique);
    const out = new Map<string, Resource>();
    for (const [key, v] of found) if (isLive(v)) out.set(key, JSON.parse(v.json) as Resource);
    return out;
  }

  private async models(ids: string[]): Promise<Map<string, ModelInfo>> {
    if (!ids.length) return new Map();
    const rows = await this.db.query<{ id: string; name: string | null; version: string | null; task: string | null; status: string; threshold: ModelInfo['threshold'] | null }>(
      `SELECT id, name, version, task, status, manifest->'threshold' AS threshold FROM ai_models WHERE id = ANY(?::text[])`,
      [[...new Set(ids)]],
    );
    return new Map(rows.map((r) => [r.id, { id: r.id, name: r.name, version: r.version, task: r.task, status: r.status, ...(r.threshold ? { threshold: r.threshold } : {}) }]));
  }

  /** The Provenance of each RiskAssessment (the AI writes one per output), keyed by its target. */
  private async provenanceOf(raIds: string[]): Promise<Map<string, Provenance>> {
    if (!raIds.length) return new Map();
    const criteria = new URLSearchParams({ target: raIds.map((id) => `RiskAssessment/${id}`).join(',') }).toString();
    const ids = await this.search.matchIds(this.db, 'Provenance', criteria, raIds.length * 4);
    const found = await this.readMany(ids.map((id) => ({ resourceType: 'Provenance', id })));
    const byTarget = new Map<string, Provenance>();
    for (const p of found.values()) {
      for (const t of (p as Provenance).target ?? []) if (t.reference && !byTarget.has(t.reference)) byTarget.set(t.reference, p as Provenance);
    }
    return byTarget;
  }
}

function isLive(v: StoredVersion): v is StoredVersion & { json: string } {
  return !v.deleted && !!v.json;
}
