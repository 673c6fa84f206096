// Recent tasks, kept in the browser so that long work can be left and found again.

const STORAGE_KEY = "sam3.recentTasks";

/**
 * A list of recent tasks in `storage` (localStorage or anything with getItem/setItem),
 * newest first, at most `limit` long. Entries: `{id, label, status, createdAt, sha256}`.
 */
export function createRecentTasks(storage, { limit = 12, now = () => Date.now() } = {}) {
  function read() {
    try {
      const entries = JSON.parse(storage.getItem(STORAGE_KEY) ?? "[]");
      return Array.isArray(entries) ? entries.filter((entry) => typeof entry?.id === "string") : [];
    } catch {
      return [];
    }
  }

  function write(entries) {
    try {
      storage.setItem(STORAGE_KEY, JSON.stringify(entries.slice(0, limit)));
    } catch {
      // A full or disabled storage loses the list, never the page.
    }
  }

  return {
    /** Every remembered task, newest first. */
    list: read,
    /** Put a task first, replacing an older entry with the same id. */
    remember(entry) {
      const others = read().filter((old) => old.id !== entry.id);
      write([{ createdAt: now(), ...entry }, ...others]);
    },
    /** Change fields of a remembered task; unknown ids are ignored. */
    update(id, patch) {
      write(read().map((entry) => (entry.id === id ? { ...entry, ...patch } : entry)));
    },
    /** Drop a task, e.g. once the service no longer knows it. */
    forget(id) {
      write(read().filter((entry) => entry.id !== id));
    },
  };
}
