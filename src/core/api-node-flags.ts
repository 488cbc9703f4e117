/**
 * The V8 flags the API process runs with, however it is started: `npm start` (start-all),
 * `npm run start:api`, the image's CMD, docker-compose and the benchmarks. api-node-flags.spec.ts
 * checks that every command starting `dist/src/main.js` names them.
 *
 * `--max-semi-space-size=32` (MiB; Node 20's default is 16): a search answer's rows and text stay
 * alive across young-generation collections while PostgreSQL and the other requests run, and each
 * collection copies what is alive; a young generation twice as large collects half as often.
 * Measured with bench:search, alternately against the default (docs/BENCHMARKS.md, session 18):
 * 5–15 % more searches per second at less API CPU each; 64 made each pause longer and the p95 worse.
 */
export const API_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
