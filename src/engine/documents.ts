/**
 * A request's retrieval documents -> the suffix-array datastore of the retrieval drafters:
 * tokenized word by word with a cache (src/tokenizer/long-text.ts) and indexed by SA-IS, both
 * linear, with progress per stage. Yields to the event loop between documents so a page can
 * show the progress.
 */
import { Datastore } from '../draft/datastore';
import { encodeLongText, type Encoder } from '../tokenizer/long-text';
import type { DocumentsProgress } from './options';

export async function indexDocuments(tokenizer: Encoder, documents: string[], onProgress?: (p: DocumentsProgress) => void): Promise<Datastore | null> {
  if (documents.length === 0) return null;
  const total = documents.reduce((n, d) => n + d.length, 0);
  const ids: Int32Array[] = [];
  let chars = 0;
  for (const d of documents) {
    ids.push(encodeLongText(tokenizer, d, (done) => onProgress?.({ stage: 'tokenize', done: chars + done, total })));
    chars += d.length;
    await new Promise((r) => setTimeout(r, 0));
  }
  const tokens = ids.reduce((n, x) => n + x.length, 0);
  onProgress?.({ stage: 'index', done: 0, total: tokens });
  const store = Datastore.build(ids);
  onProgress?.({ stage: 'index', done: tokens, total: tokens });
  return store;
}
