import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { bootstrapProcess } from '../src/bootstrap';
import { CoreModule } from '../src/core/core.module';
import { KeyRotationService } from '../src/crypto/key-rotation.service';

/**
 * `npm run check:encryption`: checks that the sensitive columns hold only pgcrypto ciphertext made
 * by configured keys, that no resource of an encrypted type is stored in plaintext and that each
 * encrypted resource's content is its row's own (not moved from another row); prints the
 * rows per key id (the progress of a rotation). Exit code 1 when something is wrong.
 * `-- --rotate` first re-encrypts everything under the active key, as the workers do in the background.
 */
async function main(): Promise<void> {
  process.env.KEY_ROTATION_INTERVAL_MS = '0';
  const { config, logger } = await bootstrapProcess('check-encryption');
  @Module({ imports: [CoreModule.forRoot(config, logger)], providers: [KeyRotationService] })
  class CheckModule {}
  const app = await NestFactory.createApplicationContext(CheckModule, { logger: false });
  try {
    const rotation = app.get(KeyRotationService);
    if (process.argv.includes('--rotate')) process.stdout.write(`re-encrypted ${await rotation.rotateAll()} rows\n`);
    const report = await rotation.report();
    process.stdout.write(`${JSON.stringify(report.byKey, null, 2)}\n`);
    if (report.problems.length) {
      process.stdout.write(`PROBLEMS:\n${report.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      process.exitCode = 1;
    } else process.stdout.write('ok: every sensitive column holds ciphertext of a configured key\n');
  } finally {
    await app.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
  process.exit(2);
});
