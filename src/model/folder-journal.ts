/**
 * The commit journal of a model folder write (src/cli/output-files.ts). Replacing a model means
 * several renames, and no file system call replaces a set of files at once: a writer killed
 * between them would leave new weights beside an old config.json. So before the first rename the
 * writer records, in one atomically renamed file, every removal and rename still to do; the new
 * files are complete and flushed by then. While the journal exists the folder's committed content
 * is the journal applied to it: FolderSource reads through it, and the next write rolls it forward.
 */
export const JOURNAL = '.treespec-commit';

export interface Journal {
  /** The writer's process id: a live writer's journal is not rolled forward by another process. */
  pid: number;
  /** Model files of the old model that the new one lacks, removed before the renames. */
  remove: string[];
  /** [temporary name, final name] in rename order, config.json last; names within the folder. */
  rename: [string, string][];
}

function plainName(n: unknown): n is string {
  return typeof n === 'string' && n.length > 0 && !/[/\\\0]/.test(n) && n !== '.' && n !== '..';
}

/** Parses a journal's text; throws an Error naming what is malformed (a hand-edited or foreign file). */
export function parseJournal(text: string): Journal {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new Error(`${JOURNAL} is not JSON (${(e as Error).message})`);
  }
  const o = j as Partial<Journal>;
  const ok =
    typeof o === 'object' && o !== null &&
    Number.isInteger(o.pid) &&
    Array.isArray(o.remove) && o.remove.every(plainName) &&
    Array.isArray(o.rename) && o.rename.every((r) => Array.isArray(r) && r.length === 2 && plainName(r[0]) && plainName(r[1]));
  if (!ok) throw new Error(`${JOURNAL} does not hold {pid, remove: [names], rename: [[temporary, final]]} with plain file names`);
  return o as Journal;
}

/**
 * Where the committed content of `file` lies while `journal` is pending: its temporary name
 * when that still exists (`exists` asks), null when the journal removes it, else itself.
 */
export async function committedName(journal: Journal, file: string, exists: (name: string) => Promise<boolean>): Promise<string | null> {
  const entry = journal.rename.find(([, final]) => final === file);
  if (entry && (await exists(entry[0]))) return entry[0];
  if (!entry && journal.remove.includes(file)) return null;
  return file;
}
