import type { Request, Response } from 'express';
import { OperationOutcomeError, badRequest } from '../../fhir/operation-outcome';
import { tooLarge, type ModelUpload } from './model-upload.service';

interface UploadedFile {
  buffer: Buffer;
}
type Middleware = (req: Request, res: Response, next: (err?: unknown) => void) => void;
interface Multer {
  (options: { storage: unknown; limits: Record<string, number> }): { fields(fields: Array<{ name: string; maxCount: number }>): Middleware };
  memoryStorage(): unknown;
}
// Multer comes with @nestjs/platform-express; used directly so that its errors become OperationOutcomes here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const multer = require('multer') as Multer;

const MANIFEST_MAX_BYTES = 2 * 1024 * 1024;

/**
 * Reads the multipart/form-data of POST /api/models into memory: the file field `model` and the
 * field `manifest` (a text field, or a file such as `-F manifest=@manifest.json`). Nothing touches
 * the disk; a file over `maxBytes` stops the upload with 413.
 */
export function readModelForm(req: Request, res: Response, maxBytes: number): Promise<ModelUpload> {
  if (!req.is('multipart/form-data')) {
    return Promise.reject(OperationOutcomeError.of(415, 'not-supported', 'POST /api/models takes multipart/form-data with the file field "model" and the field "manifest"'));
  }
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, files: 2, fields: 4, parts: 6, fieldSize: MANIFEST_MAX_BYTES },
  }).fields([
    { name: 'model', maxCount: 1 },
    { name: 'manifest', maxCount: 1 },
  ]);
  return new Promise((resolve, reject) => {
    parse(req, res, (err?: unknown) => {
      if (err) return reject(formError(err, maxBytes));
      const files = (req as unknown as { files?: Record<string, UploadedFile[]> }).files ?? {};
      const body = (req.body ?? {}) as Record<string, unknown>;
      const manifestFile = files.manifest?.[0];
      if (manifestFile && manifestFile.buffer.length > MANIFEST_MAX_BYTES) return reject(badRequest(`The manifest is larger than ${MANIFEST_MAX_BYTES} bytes`, ['manifest']));
      const manifest = manifestFile ? manifestFile.buffer.toString('utf8') : typeof body.manifest === 'string' ? body.manifest : undefined;
      resolve({ file: files.model?.[0]?.buffer, manifest });
    });
  });
}

function formError(err: unknown, maxBytes: number): OperationOutcomeError {
  const e = err as { code?: string; field?: string; message?: string };
  switch (e.code) {
    case 'LIMIT_FILE_SIZE':
      return e.field === 'manifest' ? badRequest(`The manifest is larger than ${MANIFEST_MAX_BYTES} bytes`, ['manifest']) : tooLarge(maxBytes);
    case 'LIMIT_FIELD_VALUE':
      return badRequest(`The field ${e.field ?? ''} is larger than ${MANIFEST_MAX_BYTES} bytes`, e.field ? [e.field] : undefined);
    case 'LIMIT_UNEXPECTED_FILE':
      return badRequest(`Unexpected file field "${e.field ?? ''}": the form takes the file "model" and the field "manifest"`, e.field ? [e.field] : undefined);
    default:
      return badRequest(`The multipart form could not be read: ${e.message ?? String(err)}`);
  }
}
