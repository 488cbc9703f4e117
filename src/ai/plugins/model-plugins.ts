import type { ResourceStore } from '../../fhir/store/resource-store.repository';
import type { ModelPlugin } from '../ai-plugin';
import type { ModelRegistry } from '../model-registry.service';
import { AnomalyPlugin } from './anomaly.plugin';
import { DiagnosisPlugin } from './diagnosis.plugin';
import { SentimentPlugin } from './sentiment.plugin';
import { TriagePlugin } from './triage.plugin';

/** The AI worker's plugins, whose versions are ONNX models (models/ and uploads): queued, after commit. */
export function modelPlugins(registry: ModelRegistry, store: ResourceStore): ModelPlugin[] {
  return [new DiagnosisPlugin(registry), new TriagePlugin(registry, store), new SentimentPlugin(registry), new AnomalyPlugin(registry, store)];
}
