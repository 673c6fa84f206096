// The pictures of recent tasks, kept in the browser's IndexedDB by their sha256, so that a task
// found again later shows over its own picture. Any failure just means "not kept".

const DATABASE = "sam3-images";
const STORE = "images";

function open(indexedDB) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "sha256" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** A small picture cache: `put(sha256, blob)` keeps the newest `limit`, `get(sha256)` a Blob. */
export function createImageStore(indexedDB = globalThis.indexedDB, { limit = 8 } = {}) {
  let database = null;
  const store = async (mode) => {
    database ??= await open(indexedDB);
    return database.transaction(STORE, mode).objectStore(STORE);
  };

  return {
    async put(sha256, blob) {
      try {
        await done((await store("readwrite")).put({ sha256, blob, storedAt: Date.now() }));
        const all = await done((await store("readonly")).getAll());
        const stale = all.sort((a, b) => b.storedAt - a.storedAt).slice(limit);
        const writer = await store("readwrite");
        await Promise.all(stale.map((entry) => done(writer.delete(entry.sha256))));
      } catch {
        // Private windows and full disks keep nothing; the page falls back to the overlay PNG.
      }
    },
    async get(sha256) {
      try {
        return (await done((await store("readonly")).get(sha256)))?.blob ?? null;
      } catch {
        return null;
      }
    },
  };
}
