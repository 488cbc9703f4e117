import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { bootstrapProcess } from '../src/bootstrap';
import { CoreModule } from '../src/core/core.module';
import { SearchIndexWriter } from '../src/fhir/search/search-index.writer';
import { SearchReindexService } from '../src/fhir/search/search-reindex.service';

/**
 * `npm run reindex`: rebuilds the search index of every current resource (for data stored before
 * an upgrade that indexes more). Runs beside a live server; rerunnable.
 */
async function main(): Promise<void> {
  const { config, logger } = await bootstrapProcess('reindex');
  @Module({ imports: [CoreModule.forRoot(config, logger)], providers: [SearchIndexWriter, SearchReindexService] })
  class ReindexModule {}
  const app = await NestFactory.createApplicationContext(ReindexModule, { logger: false });
  try {
    const started = Date.now();
    const n = await app.get(SearchReindexService).reindexAll(500, (done) => process.stdout.write(`\rreindexed ${done} resources`));
    process.stdout.write(`\rreindexed ${n} resources in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    await app.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
  process.exit(2);
});
