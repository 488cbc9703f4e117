import type { DatabaseService } from '../../database/database.service';
import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { ModelPlugin } from '../ai-plugin';
import type { InferenceService } from '../inference.service';
import type { ModelRegistry } from '../model-registry.service';
import { AnomalyPlugin } from './anomaly.plugin';
import { DiagnosisPlugin } from './diagnosis.plugin';
import { PendingRecommendations } from './pending-recommendations';
import { SentimentPlugin } from './sentiment.plugin';
import { TriagePlugin } from './triage.plugin';

/** The AI worker's plugins, whose versions are ONNX models (models/ and uploads): queued, after commit. */
export function modelPlugins(registry: ModelRegistry, store: ResourceStore, db: DatabaseService, inference: InferenceService): ModelPlugin[] {
  return [new DiagnosisPlugin(registry, new PendingRecommendations(db, store)), new TriagePlugin(registry, store), new SentimentPlugin(registry, inference), new AnomalyPlugin(registry, store)];
}
