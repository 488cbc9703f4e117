import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_NODE_FLAGS } from './api-node-flags';

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('API_NODE_FLAGS', () => {
  it('are named by every command that starts the API outside the code (package.json, the image, docker-compose)', () => {
    const commands = [
      JSON.parse(read('package.json')).scripts['start:api'] as string,
      ...read('Dockerfile').split('\n').filter((l) => l.startsWith('CMD')),
      ...read('docker-compose.yml').split('\n').filter((l) => l.includes('dist/src/main.js')),
    ];
    // The image's CMD, the compose file's api and api-citus services, npm run start:api.
    expect(commands.filter((c) => c.includes('dist/src/main.js')).length).toBeGreaterThanOrEqual(4);
    for (const command of commands.filter((c) => c.includes('dist/src/main.js'))) {
      for (const flag of API_NODE_FLAGS) expect({ command, has: command.includes(flag) }).toEqual({ command, has: true });
    }
  });

  it('are flags V8 takes (node starts with them)', () => {
    const out = execFileSync(process.execPath, [...API_NODE_FLAGS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([...API_NODE_FLAGS, '-e', expect.any(String)]);
  });
});
