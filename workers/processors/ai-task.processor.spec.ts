import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { AiJob } from '../../src/ai/ai-plugin';
import type { AiJobResult, AiTaskRunner } from '../../src/ai/ai-task.runner';
import type { ModelRegistry } from '../../src/ai/model-registry.service';
import { Metrics } from '../../src/metrics/metrics';
import { AiTaskProcessor } from './ai-task.processor';

const data: AiJob = { task: 'diagnosis-confidence', resourceType: 'Condition', resourceId: 'c1', versionId: 1, patientId: 'p1' };

/** The processor on a runner that answers `result`; what the metrics counted. */
async function countsAfter(...results: AiJobResult[]) {
  const metrics = new Metrics('worker');
  const queue = [...results];
  const runner = { run: async () => queue.shift() } as unknown as AiTaskRunner;
  const logger = { debug: () => undefined, warn: () => undefined } as unknown as Logger;
  const processor = new AiTaskProcessor(runner, {} as ModelRegistry, metrics, logger);
  for (let i = 0; i < results.length; i++) await processor.process({ id: `j${i}`, data, attemptsMade: 0, timestamp: Date.now() } as unknown as Job<AiJob>);
  const values = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
  return { predictions: await values('ai_predictions_total'), jobs: await values('ai_jobs_total') };
}

describe('AiTaskProcessor metrics', () => {
  it('counts a prediction only when the written output holds one, not a "too little is known" output', async () => {
    const written = (predicted: boolean): AiJobResult => ({ status: 'written', model: 'cad-cleveland-1.0.0', output: 'RiskAssessment/x', predicted });
    const { predictions, jobs } = await countsAfter(written(true), written(false), written(false), { status: 'skipped', reason: 'superseded by version 2' });
    expect(predictions).toEqual([{ labels: { model: 'cad-cleveland-1.0.0', task: 'diagnosis-confidence' }, value: 1 }]);
    // every written job still counts as written
    expect(jobs).toEqual(
      expect.arrayContaining([
        { labels: { task: 'diagnosis-confidence', outcome: 'written' }, value: 3 },
        { labels: { task: 'diagnosis-confidence', outcome: 'skipped' }, value: 1 },
      ]),
    );
  });
});
